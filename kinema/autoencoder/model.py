"""The causal video VAE: pixels (B, 3, 1 + 4k, H, W) <-> latent (B, C, 1 + k, h, w).

The encoder halves space `log2(spatial_compression)` times and time twice, the time
halvings in the last (smallest) stages; the decoder mirrors it. Every layer is causal in
time, so the first frame is encoded alone and a single image is a one-frame video.

Each change of size or width also has a parameter-free shortcut (folding space and time
into channels and averaging, or repeating channels and unfolding), as in DC-AE's residual
autoencoding; the learned layers only refine it. In short runs on random moving shapes
this raised held-out PSNR by about 5 dB over the same network without shortcuts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import reduce, repeat
from torch import Tensor, nn

from kinema.autoencoder.layers import (
    CausalConv3d,
    Downsample,
    FrameGroupNorm,
    ResBlock,
    Upsample,
    channels_last,
)
from kinema.config import AutoencoderConfig
from kinema.errors import KinemaError

TEMPORAL_COMPRESSION = 4  # two causal halvings; the static frame helpers rely on it
LOGVAR_RANGE = (-30.0, 20.0)


@dataclass(frozen=True)
class Stage:
    """One resolution level of the encoder (the decoder walks them backwards)."""

    channels: int
    temporal_kernel: int  # first conv of each ResBlock: 3 once time is halved, else 1 (cheap)
    down_space: bool  # halve height and width after this stage
    down_time: bool  # halve time (causally) after this stage


def stage_plan(cfg: AutoencoderConfig) -> list[Stage]:
    """Channels `base × (1, 2, 4, …)`; space halves first, time in the last two halvings.

    Stages at the full frame rate are per frame (their large activations make a temporal
    kernel costly); the input conv, the pairing of frames and every later stage mix time.
    """
    space_halvings = cfg.spatial_compression.bit_length() - 1
    time_halvings = TEMPORAL_COMPRESSION.bit_length() - 1
    levels = max(space_halvings, time_halvings)
    first_time_halving = levels - time_halvings
    return [
        Stage(
            channels=cfg.base_channels * 2**level,
            temporal_kernel=3 if level > first_time_halving else 1,
            down_space=level < space_halvings,
            down_time=first_time_halving <= level < levels,
        )
        for level in range(levels + 1)
    ]


@dataclass
class AutoencoderOutput:
    reconstruction: Tensor  # (B, 3, T, H, W), not clamped
    mean: Tensor  # (B, C, t, h, w)
    logvar: Tensor  # (B, C, t, h, w)


class Encoder(nn.Module):
    def __init__(self, cfg: AutoencoderConfig) -> None:
        super().__init__()
        stages = stage_plan(cfg)
        self.conv_in = CausalConv3d(cfg.in_channels, stages[0].channels)
        blocks: list[nn.Module] = []
        for i, stage in enumerate(stages):
            blocks += [
                ResBlock(stage.channels, stage.channels, stage.temporal_kernel)
                for _ in range(cfg.num_res_blocks)
            ]
            if stage.down_space or stage.down_time:
                blocks.append(
                    Downsample(
                        stage.channels, stages[i + 1].channels, stage.down_space, stage.down_time
                    )
                )
        self.blocks = nn.Sequential(*blocks)
        width = stages[-1].channels
        self.mid = ResBlock(width, width)
        self.norm_out = FrameGroupNorm(width)
        self.conv_out = CausalConv3d(width, 2 * cfg.latent_channels)

    def forward(self, video: Tensor) -> tuple[Tensor, Tensor]:
        x = self.conv_in(channels_last(video))
        x = self.mid(self.blocks(x))
        moments = self.conv_out(F.silu(self.norm_out(x)))
        mean, logvar = moments.chunk(2, dim=1)  # (B, 2C, t, h, w) -> 2 × (B, C, t, h, w)
        # Shortcut as in Downsample: (B, C·g, t, h, w) features -> (B, C, t, h, w) group means
        mean = mean + reduce(x, "b (c g) t h w -> b c t h w", "mean", c=mean.shape[1])
        return mean.contiguous(), logvar.clamp(*LOGVAR_RANGE).contiguous()


class Decoder(nn.Module):
    def __init__(self, cfg: AutoencoderConfig) -> None:
        super().__init__()
        stages = stage_plan(cfg)
        width = stages[-1].channels
        self.repeats = width // cfg.latent_channels
        self.conv_in = CausalConv3d(cfg.latent_channels, width)
        self.mid = ResBlock(width, width)
        blocks: list[nn.Module] = []
        for i in reversed(range(len(stages))):
            stage = stages[i]
            blocks += [
                ResBlock(stage.channels, stage.channels, stage.temporal_kernel)
                for _ in range(cfg.num_res_blocks)
            ]
            if i > 0:
                below = stages[i - 1]
                blocks.append(
                    Upsample(stage.channels, below.channels, below.down_space, below.down_time)
                )
        self.blocks = nn.Sequential(*blocks)
        self.norm_out = FrameGroupNorm(stages[0].channels)
        self.conv_out = CausalConv3d(stages[0].channels, cfg.in_channels)

    def forward(self, latent: Tensor) -> Tensor:
        latent = channels_last(latent)
        # Shortcut as in Upsample: (B, C, t, h, w) -> (B, C·r, t, h, w), channels repeated
        x = self.conv_in(latent) + repeat(latent, "b c t h w -> b (c r) t h w", r=self.repeats)
        x = self.blocks(self.mid(x))
        return self.conv_out(F.silu(self.norm_out(x))).contiguous()


class VideoAutoencoder(nn.Module):
    """Causal video VAE. `encode` gives (mean, logvar); `decode` gives clamped pixels."""

    def __init__(self, cfg: AutoencoderConfig) -> None:
        super().__init__()
        if cfg.temporal_compression != TEMPORAL_COMPRESSION:
            raise KinemaError(
                f"temporal_compression must be {TEMPORAL_COMPRESSION}, "
                f"got {cfg.temporal_compression}"
            )
        s = cfg.spatial_compression
        if s < 2 or s & (s - 1):
            raise KinemaError(f"spatial_compression must be a power of two >= 2, got {s}")
        width = stage_plan(cfg)[-1].channels
        if width % cfg.latent_channels:
            raise KinemaError(
                f"latent_channels must divide the deepest width ({width}), "
                f"got {cfg.latent_channels}"
            )
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.init_weights()

    def init_weights(self) -> None:
        """Zero each ResBlock's last conv, so every block starts as the identity.

        The untrained network is then the shortcut path plus a few convs, whatever the
        depth; the residual branches grow from there (as in SkipInit / Fixup).
        """
        for module in self.modules():
            if isinstance(module, ResBlock):
                nn.init.zeros_(module.conv2.conv.weight)
                nn.init.zeros_(module.conv2.conv.bias)

    # --- sizes -------------------------------------------------------------------------

    @staticmethod
    def latent_frames(frames: int, what: str = "") -> int:
        """Latent frames for `frames = 1 + 4k` pixel frames: 1 + k. `what` prefixes the error."""
        if frames < 1 or (frames - 1) % TEMPORAL_COMPRESSION:
            prefix = f"{what}: " if what else ""
            raise KinemaError(
                f"{prefix}frames must be of the form 1 + 4k (1, 5, 9, …), got {frames}"
            )
        return 1 + (frames - 1) // TEMPORAL_COMPRESSION

    @staticmethod
    def pixel_frames(latent_frames: int) -> int:
        """Pixel frames decoded from `1 + k` latent frames: 1 + 4k."""
        if latent_frames < 1:
            raise KinemaError(f"latent frames must be at least 1, got {latent_frames}")
        return 1 + (latent_frames - 1) * TEMPORAL_COMPRESSION

    def check_input_size(self, frames: int, height: int, width: int) -> None:
        """Raise `KinemaError` (a `ValueError`) naming the rule a pixel size breaks."""
        self.latent_frames(frames)
        s = self.cfg.spatial_compression
        if height < 1 or width < 1 or height % s or width % s:
            raise KinemaError(
                f"height and width must be divisible by {s} (the spatial compression), "
                f"got {height}×{width}"
            )

    # --- encode / decode ---------------------------------------------------------------

    def encode(self, video: Tensor) -> tuple[Tensor, Tensor]:
        """(B, 3, 1 + 4k, H, W) in [-1, 1] -> mean, logvar, each (B, C, 1 + k, H/s, W/s)."""
        if video.ndim != 5 or video.shape[1] != self.cfg.in_channels:
            raise KinemaError(
                f"video must be (B, {self.cfg.in_channels}, T, H, W), got {tuple(video.shape)}"
            )
        self.check_input_size(*video.shape[2:])
        return self.encoder(video)

    def decode_raw(self, latent: Tensor) -> Tensor:
        """(B, C, 1 + k, h, w) -> (B, 3, 1 + 4k, h·s, w·s), unclamped (the training path)."""
        self._check_latent(latent)
        return self.decoder(latent)

    def _check_latent(self, latent: Tensor) -> None:
        if latent.ndim != 5 or latent.shape[1] != self.cfg.latent_channels:
            raise KinemaError(
                f"latent must be (B, {self.cfg.latent_channels}, t, h, w), "
                f"got {tuple(latent.shape)}"
            )
        t, h, w = latent.shape[2:]
        s = self.cfg.spatial_compression
        self.check_input_size(self.pixel_frames(t), h * s, w * s)

    def decode(self, latent: Tensor) -> Tensor:
        """(B, C, 1 + k, h, w) -> pixels (B, 3, 1 + 4k, h·s, w·s) clamped to [-1, 1]."""
        return self.decode_raw(latent).clamp(-1.0, 1.0)

    @torch.no_grad()
    def decode_chunks(self, latent: Tensor, chunk: int) -> Iterator[Tensor]:
        """`decode`, `chunk` latent frames at a time, so the decoder's activations are those
        of one chunk however long the video: yields clamped pixels, 1 + 4(chunk - 1) frames
        first, then 4·chunk per chunk (the last may be shorter); concatenated in time they
        equal `decode(latent)`. Every causal convolution carries its last input frames from
        one chunk into the next (inference only; not for two videos at once).
        """
        if chunk < 1:
            raise KinemaError(f"a decoding chunk holds at least 1 latent frame, got {chunk}")
        self._check_latent(latent)
        streamed = [m for m in self.decoder.modules() if hasattr(m, "set_streaming")]
        for module in streamed:
            module.set_streaming(True)
        try:
            for start in range(0, latent.shape[2], chunk):
                yield self.decoder(latent[:, :, start : start + chunk]).clamp(-1.0, 1.0)
        finally:
            for module in streamed:
                module.set_streaming(False)

    def forward(
        self,
        video: Tensor,
        sample: bool = True,
        generator: torch.Generator | None = None,
        noise: Tensor | None = None,
    ) -> AutoencoderOutput:
        """Encode, draw a latent (or take the mean), decode without clamping.

        `noise` (the latent's shape) replaces the draw from `generator`, for callers that
        draw a whole batch's noise and encode part of it.
        """
        mean, logvar = self.encode(video)
        latent = sample_latent(mean, logvar, generator, noise) if sample else mean
        return AutoencoderOutput(self.decode_raw(latent), mean, logvar)


def sample_latent(
    mean: Tensor,
    logvar: Tensor,
    generator: torch.Generator | None = None,
    noise: Tensor | None = None,
) -> Tensor:
    """Reparameterised draw: mean + exp(logvar / 2) · noise, differentiable in both."""
    if noise is None:
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    elif noise.shape != mean.shape:
        raise ValueError(f"noise {tuple(noise.shape)} does not match latent {tuple(mean.shape)}")
    return mean + torch.exp(0.5 * logvar) * noise.to(mean.dtype)
