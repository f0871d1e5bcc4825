"""The transformer's training loss on one step's autoencoder latents.

Posterior sample, normalisation, caption dropout (for guidance), token-count shifted
timesteps and flow matching, in the order the transformer stage draws them. Every random
draw of a step comes from (seed, step) and is made for the whole batch before a shard
keeps its rows, so a resumed or split run computes what an uninterrupted one does.
"""

from __future__ import annotations

import math
import random

import torch
from torch import Tensor

from kinema.dit import patch_grid
from kinema.flow import flow_matching_loss, sample_timesteps, shift_for_tokens
from kinema.model import KinemaModel
from kinema.train.latents import LatentSource
from kinema.train.shards import WHOLE_BATCH, BatchShard


def step_seed(seed: int, step: int) -> int:
    return seed * 1_000_003 + step


def latent_flow_loss(
    model: KinemaModel,
    source: LatentSource,
    seed: int,
    step: int,
    shard: BatchShard = WHOLE_BATCH,
) -> Tensor:
    """Flow-matching loss of `model.transformer` (and text encoder) on a step's latents."""
    cfg = model.config
    mean, logvar, captions = source.latents(step)  # bucketed: shapes vary by step
    generator = torch.Generator().manual_seed(step_seed(seed, step))
    drop = random.Random(step_seed(seed, step))
    captions = ["" if drop.random() < cfg.flow.condition_dropout else c for c in captions]
    device = mean.device
    with torch.no_grad():
        noise = torch.randn(mean.shape, generator=generator).to(device)
        x0 = model.normalize_latent(mean + (0.5 * logvar).exp() * noise)
    tokens = math.prod(patch_grid(x0.shape[2:], cfg.transformer.patch_size))
    shift = shift_for_tokens(tokens, cfg.flow)
    t = sample_timesteps(len(captions), cfg.flow, shift, generator).to(device)
    noise = torch.randn(x0.shape, generator=generator).to(device)
    x0, t, noise, captions = (shard.take(v) for v in (x0, t, noise, captions))
    context, mask = source.encode_text(model.text_encoder, captions)
    return flow_matching_loss(lambda x, tt: model.transformer(x, tt, context, mask), x0, noise, t)
