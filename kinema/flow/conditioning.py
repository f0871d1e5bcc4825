"""Given latent frames and partial noising: the one conditioning mechanism of every mode.

A mode (image-to-video, extension, loop, connect) gives some latent frames clean. They sit
at flow time 0 while the rest are denoised, so the transformer sees per-frame timesteps and
reads the given frames as context; their velocity is zero, so every sampler leaves them as
they are. An edit (SDEdit) instead starts the whole latent part of the way to noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from kinema.flow.samplers import VelocityFn


@dataclass(frozen=True)
class GivenFrames:
    """Clean latent frames the sampler must keep: latent (B, C, T, h, w), frames (T,) bool."""

    latent: Tensor
    frames: Tensor

    def __post_init__(self) -> None:
        if self.frames.dtype != torch.bool or self.frames.shape != self.latent.shape[2:3]:
            raise ValueError(
                f"frames must be a bool mask of the {self.latent.shape[2]} latent frames, "
                f"got {self.frames.dtype} {tuple(self.frames.shape)}"
            )

    def mask(self) -> Tensor:
        return self.frames.view(1, 1, -1, 1, 1)  # (1, 1, T, 1, 1) broadcast over B, C, h, w

    def apply(self, x: Tensor) -> Tensor:
        """x with the given frames put in place."""
        return torch.where(self.mask(), self.latent.to(x.dtype), x)


def with_given_frames(velocity_fn: VelocityFn, given: GivenFrames) -> VelocityFn:
    """A velocity function that holds the given frames clean at time 0.

    The wrapped function receives per-frame times (B, T): 0 on given frames, the sampler's
    time elsewhere.
    """

    def conditioned(x: Tensor, t: Tensor) -> Tensor:
        frame_times = torch.where(given.frames.to(x.device), 0.0, t[:, None])  # (B, T)
        velocity = velocity_fn(given.apply(x), frame_times.to(x.dtype))
        return torch.where(given.mask(), torch.zeros_like(velocity), velocity)

    return conditioned


def partial_schedule(schedule: Tensor, strength: float) -> Tensor:
    """The part of a decreasing schedule below `strength`, starting at `strength` itself."""
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"strength must be in (0, 1], got {strength}")
    below = schedule[schedule < strength]
    return torch.cat([schedule.new_tensor([strength]), below])
