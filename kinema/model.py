"""The three trained parts of Kinema, built from one `ModelConfig` and loaded together."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import Tensor, nn

from kinema.autoencoder import VideoAutoencoder
from kinema.checkpoint import load_config, load_weights, resolve_checkpoint
from kinema.config import ModelConfig
from kinema.dit import DiffusionTransformer
from kinema.errors import KinemaError
from kinema.text import build_text_encoder, is_trainable
from kinema.text.memo import FrozenTextMemo


@dataclass
class KinemaModel:
    config: ModelConfig
    autoencoder: VideoAutoencoder
    transformer: DiffusionTransformer
    text_encoder: nn.Module  # encode(list[str]) -> (tokens, mask)
    # A frozen encoder's states of recent prompts: a server's or an evaluation's negative
    # prompt is encoded once, not at every generation.
    text_memo: FrozenTextMemo = field(default_factory=lambda: FrozenTextMemo(capacity=64))

    @property
    def device(self) -> torch.device:
        return next(self.transformer.parameters()).device

    def to(self, device: torch.device | str) -> KinemaModel:
        for module in (self.autoencoder, self.transformer, self.text_encoder):
            module.to(device)
        return self

    def eval(self) -> KinemaModel:
        for module in (self.autoencoder, self.transformer, self.text_encoder):
            module.eval()
        return self

    def encode_prompts(self, prompts: list[str]) -> tuple[Tensor, Tensor]:
        """Prompts -> (tokens (B, L, D), mask (B, L) bool) on the model's device, padded to
        the longest; a frozen encoder's recent prompts come from the memo."""
        if is_trainable(self.config.text):  # its weights may change: always encode
            return self.text_encoder.encode(prompts)
        return self.text_memo.encode(self.text_encoder, prompts, self.device)

    def remembers(self, prompts: list[str]) -> bool:
        """Whether `encode_prompts(prompts)` needs no text encoder (all from the memo)."""
        return not is_trainable(self.config.text) and self.text_memo.holds(prompts)

    def _latent_stats(self, like: Tensor) -> tuple[Tensor, Tensor]:
        channels = self.config.autoencoder.latent_channels
        mean = self.config.latent_mean or (0.0,) * channels
        std = self.config.latent_std or (1.0,) * channels
        shape = (1, channels, 1, 1, 1)
        as_tensor = {"device": like.device, "dtype": like.dtype}
        return torch.tensor(mean, **as_tensor).view(shape), torch.tensor(std, **as_tensor).view(
            shape
        )

    def normalize_latent(self, latent: Tensor) -> Tensor:
        """Autoencoder latent -> the unit-scale latent the transformer works on."""
        mean, std = self._latent_stats(latent)
        return (latent - mean) / std

    def denormalize_latent(self, latent: Tensor) -> Tensor:
        mean, std = self._latent_stats(latent)
        return latent * std + mean


def build_model(config: ModelConfig) -> KinemaModel:
    """Fresh, initialised parts for a config."""
    if config.transformer.latent_channels != config.autoencoder.latent_channels:
        raise KinemaError(
            f"the transformer works on {config.transformer.latent_channels} latent channels "
            f"but the autoencoder makes {config.autoencoder.latent_channels}"
        )
    transformer = DiffusionTransformer(config.transformer)
    transformer.init_weights()
    text_encoder = build_text_encoder(config.text)
    if text_encoder.dim != config.transformer.context_dim:
        raise KinemaError(
            f"the text encoder gives {text_encoder.dim}-wide tokens but the transformer's "
            f"context_dim is {config.transformer.context_dim}"
        )
    return KinemaModel(
        config=config,
        autoencoder=VideoAutoencoder(config.autoencoder),
        transformer=transformer,
        text_encoder=text_encoder,
    )


def with_latent_stats(config: ModelConfig, mean: Tensor, std: Tensor) -> ModelConfig:
    return replace(
        config,
        latent_mean=tuple(float(v) for v in mean),
        latent_std=tuple(float(v) for v in std),
    )


def load_model(path: Path, device: torch.device | str = "cpu") -> KinemaModel:
    """Load a checkpoint folder (or a run folder's latest checkpoint) for inference."""
    folder = resolve_checkpoint(Path(path))
    model = build_model(load_config(folder))
    load_weights(folder, "autoencoder", model.autoencoder)
    load_weights(folder, "transformer", model.transformer)
    if is_trainable(model.config.text):  # a frozen pretrained encoder loads from its own folder
        load_weights(folder, "text_encoder", model.text_encoder)
    return model.to(device).eval()


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(name: str | None) -> torch.device:
    """A device a user named (None: the best one here); a missing GPU is a clear error."""
    if name is None:
        return default_device()
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise KinemaError(f"device '{name}' was asked for but no CUDA GPU is available")
    return torch.device(name)
