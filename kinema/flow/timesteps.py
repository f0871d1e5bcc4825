"""Timestep sampling for training and schedules for sampling, with a token-count shift.

Larger latents keep more signal at a given noise level, so both training and sampling
move time towards noise by a shift that grows with the number of tokens (SD3, Flux).
"""

import math

import torch
from torch import Tensor

from kinema.config import FlowConfig


def shift_for_tokens(num_tokens: int, cfg: FlowConfig) -> float:
    """shift = exp(mu), mu linear in the token count between the config's two anchors."""
    span = cfg.shift_max_tokens - cfg.shift_base_tokens
    slope = (cfg.shift_max_mu - cfg.shift_base_mu) / span
    mu = cfg.shift_base_mu + slope * (num_tokens - cfg.shift_base_tokens)
    return math.exp(mu)


def shift_time(t: Tensor, shift: float) -> Tensor:
    """Monotone map of [0, 1] onto itself; shift > 1 spends more time near noise."""
    return shift * t / (1 + (shift - 1) * t)


def sample_timesteps(
    batch_size: int, cfg: FlowConfig, shift: float, generator: torch.Generator | None = None
) -> Tensor:
    """Training times: logit-normal, then shifted. Shape (B,)."""
    normal = torch.randn(batch_size, generator=generator)
    t = torch.sigmoid(cfg.logit_normal_mean + cfg.logit_normal_std * normal)
    return shift_time(t, shift)


def sampling_schedule(steps: int, shift: float) -> Tensor:
    """Times from 1 (noise) down to 0 (data), steps + 1 points, shifted."""
    if steps < 1:
        raise ValueError(f"sampling steps must be at least 1, got {steps}")
    return shift_time(torch.linspace(1.0, 0.0, steps + 1), shift)
