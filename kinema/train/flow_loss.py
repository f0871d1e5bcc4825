"""The transformer's training loss on one step's autoencoder latents.

Posterior sample, normalisation, caption dropout (for guidance), the prompting modes'
given frames, token-count shifted timesteps and flow matching, in the order the
transformer stage draws them. Every random draw of a step comes from (seed, step) and is
made for the whole batch before a shard keeps its rows, so a resumed or split run computes
what an uninterrupted one does.
"""

from __future__ import annotations

import math
import random

import numpy as np
import torch
from torch import Tensor

from kinema.config import ConditioningConfig
from kinema.dit import patch_grid
from kinema.flow import (
    flow_matching_loss,
    foreground_latent_weights,
    sample_timesteps,
    shift_for_tokens,
)
from kinema.model import KinemaModel
from kinema.train.given_frames import draw_given_frames, image_step
from kinema.train.latents import LatentSource
from kinema.train.shards import WHOLE_BATCH, BatchShard

NO_CONDITIONING = ConditioningConfig()


def step_seed(seed: int, step: int) -> int:
    return seed * 1_000_003 + step


def latent_flow_loss(
    model: KinemaModel,
    source: LatentSource,
    seed: int,
    step: int,
    shard: BatchShard = WHOLE_BATCH,
    conditioning: ConditioningConfig = NO_CONDITIONING,
) -> Tensor:
    """Flow-matching loss of `model.transformer` (and text encoder) on a step's latents.

    With `conditioning`, some samples are given latent frames clean: those frames sit at
    time 0 (per-frame timesteps) and leave the loss, as a prompting mode gives them.
    """
    cfg = model.config
    mean, logvar, captions = source.latents(step)  # bucketed: shapes vary by step
    generator = torch.Generator().manual_seed(step_seed(seed, step))
    drop = random.Random(step_seed(seed, step))
    captions = ["" if drop.random() < cfg.flow.condition_dropout else c for c in captions]
    modes = np.random.default_rng([seed, step, 1])  # a stream of its own: no draw above moves
    if image_step(conditioning, modes):
        mean, logvar = mean[:, :, :1], logvar[:, :, :1]  # latent frame 0 is an image's latent
    device = mean.device
    with torch.no_grad():
        noise = torch.randn(mean.shape, generator=generator).to(device)
        x0 = model.normalize_latent(mean + (0.5 * logvar).exp() * noise)
    tokens = math.prod(patch_grid(x0.shape[2:], cfg.transformer.patch_size))
    shift = shift_for_tokens(tokens, cfg.flow)
    t = sample_timesteps(len(captions), cfg.flow, shift, generator).to(device)
    noise = torch.randn(x0.shape, generator=generator).to(device)
    given = torch.from_numpy(
        draw_given_frames(
            conditioning, modes, len(captions), x0.shape[2], cfg.transformer.patch_size[0]
        )
    ).to(device)  # (B, T) bool
    x0, t, noise, given, captions = (shard.take(v) for v in (x0, t, noise, given, captions))
    context, mask = source.encode_text(model.text_encoder, captions)

    def velocity(x: Tensor, tt: Tensor) -> Tensor:
        return model.transformer(x, tt, context, mask)

    weight = cfg.flow.temporal_weight
    foreground = cfg.flow.foreground_weight
    positions = foreground_latent_weights(x0, foreground) if foreground > 0 else None
    loss_mask = None  # unless some sample of this part is given a frame
    if bool(given.any()):
        t = torch.where(given, 0.0, t[:, None])  # (B, T): given frames are clean
        loss_mask = ~given
    return flow_matching_loss(
        velocity, x0, noise, t, loss_mask, temporal_weight=weight, position_weight=positions
    )
