"""The diffusion transformer: latent video + flow time + text -> velocity (ε − x0).

x (B, C, T, H, W) -> patchify -> linear embed -> blocks (self-attn with 3D RoPE, cross-attn to
text, MLP; adaLN-zero from the timestep) -> adaLN + linear -> unpatchify -> (B, C, T, H, W).

Timesteps are (B,) — one per sample — or (B, T), one per latent frame, so that conditioning
frames can be given clean (t = 0) next to noisy ones. With a temporal patch size pt > 1 a
token spans pt frames and is conditioned on the mean of their times. Positions are rebuilt
from the latent shape on every call, so any T, H, W divisible by the patch size works.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from einops import reduce
from torch import Tensor, nn

from kinema.config import TransformerConfig
from kinema.dit.layers import (
    ContextEmbedder,
    DiTBlock,
    FinalLayer,
    TimestepEmbedder,
    modulate,
    token_modulation,
)
from kinema.dit.patch import grid_positions, patch_grid, patchify, unpatchify
from kinema.dit.rope import rope_axis_pairs, rope_frequencies
from kinema.dit.step_cache import StepCache


def masked_mean(context: Tensor, mask: Tensor | None) -> Tensor:
    """Mean of the real tokens: (B, L, D), (B, L) -> (B, D); zeros for a prompt with none."""
    if mask is None:
        return context.mean(dim=1)
    weights = mask.to(context.dtype)[..., None]  # (B, L, 1)
    return (context * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


@dataclass(frozen=True)
class PreparedText:
    """A prompt's part of the transformer's work, done once for every step of a sampler:
    the pooled-text conditioning and each block's cross-attention keys and values (from the
    embedded text tokens). Made by `DiffusionTransformer.prepare_text`; pass it as `context`."""

    mask: Tensor | None  # (B, L) bool
    pooled: Tensor | None  # (B, D), added to the timestep conditioning; None when unused
    keys_values: tuple[tuple[Tensor, Tensor], ...]  # per block, each (B, heads, L, head_dim)


class SequenceSplit(Protocol):
    """Splits one sample's tokens across workers (sequence parallelism; kinema.distributed)."""

    def shard(self, x: Tensor, dim: int) -> Tensor:
        """This worker's contiguous share of `x` along `dim`."""
        ...

    def gather(self, x: Tensor, dim: int) -> Tensor:
        """Every worker's share of `x`, concatenated in worker order along `dim`."""
        ...

    def attention(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """This worker's queries (B, heads, N/P, hd) attend to every worker's keys and values."""
        ...


class AbsolutePositionEmbedder(nn.Module):
    """Sinusoids of a token's frame index and of its row and column as fractions of the
    frame (so "the left edge" means the same at any width), through a linear layer."""

    def __init__(self, frequencies: int, dim: int) -> None:
        super().__init__()
        self.register_buffer(
            "frequencies", 2.0 ** torch.arange(frequencies, dtype=torch.float32), persistent=False
        )
        self.linear = nn.Linear(6 * frequencies, dim)

    def forward(self, positions: Tensor, grid: tuple[int, int, int]) -> Tensor:
        """positions (N, 3) integer (t, h, w) of a grid (T, H, W) -> (N, dim)."""
        place = positions.float()
        # frame index in units of 8 latent frames; rows and columns at cell centres in [0, 1]
        scale = torch.tensor([1 / 8, 1 / grid[1], 1 / grid[2]], device=place.device)
        offset = torch.tensor([0.0, 0.5, 0.5], device=place.device)
        angles = ((place + offset) * scale)[:, :, None] * math.pi * self.frequencies  # (N, 3, F)
        features = torch.cat([angles.sin(), angles.cos()], dim=-1).flatten(1)  # (N, 6F)
        return self.linear(features.to(self.linear.weight.dtype))


class DiffusionTransformer(nn.Module):
    """Predicts the flow velocity of a latent video under a text prompt; owns no loss or sampler."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        if cfg.hidden_size % cfg.num_heads != 0:
            raise ValueError(
                f"hidden_size ({cfg.hidden_size}) must be divisible by num_heads ({cfg.num_heads})"
            )
        self.cfg = cfg
        pt, ph, pw = cfg.patch_size
        self.patch_size = (pt, ph, pw)  # a tuple even if the config came from JSON lists
        self.head_dim = cfg.hidden_size // cfg.num_heads
        rope_axis_pairs(self.head_dim)  # fail at construction, not on the first forward
        dim = cfg.hidden_size
        patch_dim = cfg.latent_channels * math.prod(self.patch_size)

        self.x_embedder = nn.Linear(patch_dim, dim)
        self.position_embedder = (
            AbsolutePositionEmbedder(cfg.absolute_positions, dim)
            if cfg.absolute_positions
            else None
        )
        self.t_embedder = TimestepEmbedder(dim)
        self.context_embedder = ContextEmbedder(cfg.context_dim, dim)
        self.pooled_embedder = ContextEmbedder(cfg.context_dim, dim) if cfg.pooled_text else None
        self.blocks = nn.ModuleList(
            DiTBlock(dim, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.depth)
        )
        self.final_layer = FinalLayer(dim, patch_dim)
        self.sequence_split: SequenceSplit | None = None
        self.init_weights()

    @property
    def context_dim(self) -> int:
        return self.cfg.context_dim

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def split_sequence(self, split: SequenceSplit | None) -> None:
        """Work on this worker's share of the tokens only (None: all tokens, the default).

        The output is gathered back whole, so callers see no difference.
        """
        self.sequence_split = split
        for block in self.blocks:
            block.attn.attention = (
                F.scaled_dot_product_attention if split is None else split.attention
            )

    @torch.no_grad()
    def init_weights(self) -> None:
        """DiT init: xavier linears, an N(0, 0.02) timestep MLP, and zeros for every adaLN
        modulation, the cross-attention output and the output layer, so the untrained model
        returns exactly 0 and every block starts as the identity."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm | nn.RMSNorm):
                module.reset_parameters()
        # The timestep MLP starts small (DiT). The text embedders keep their xavier init: at
        # N(0, 0.02) they shrank the prompt ~20× before cross-attention, and in a world whose
        # captions differ only in direction, 1500 steps learned nothing of it (10.9% right,
        # chance) where xavier learned 40.6%.
        nn.init.normal_(self.t_embedder.fc1.weight, std=0.02)
        nn.init.normal_(self.t_embedder.fc2.weight, std=0.02)
        zeroed = [self.final_layer.modulation[-1], self.final_layer.linear]
        for block in self.blocks:
            zeroed += [block.modulation[-1], block.cross_attn.proj]
        for linear in zeroed:
            nn.init.zeros_(linear.weight)
            nn.init.zeros_(linear.bias)

    @torch.no_grad()
    def prepare_text(self, context: Tensor, context_mask: Tensor | None = None) -> PreparedText:
        """The text's share of every forward pass, computed once (inference: no gradients).

        Not for sharded training: it runs the blocks' key/value projections outside their
        own forward, where FSDP has not gathered their weights.
        """
        pooled = None
        if self.pooled_embedder is not None:
            pooled = self.pooled_embedder(masked_mean(context, context_mask))
        tokens = self.context_embedder(context)  # (B, L, D)
        keys_values = tuple(block.cross_attn.keys_values(tokens) for block in self.blocks)
        return PreparedText(context_mask, pooled, keys_values)

    def forward(
        self,
        x: Tensor,
        t: Tensor,
        context: Tensor | PreparedText,
        context_mask: Tensor | None = None,
        step_cache: StepCache | None = None,
    ) -> Tensor:
        """Velocity ε − x0 for the noisy latent x.

        x: (B, C, T, H, W). t: (B,) or (B, T) flow time in [0, 1] (a 0-d t is broadcast).
        context: (B, L, context_dim) text token states, or `prepare_text` of them (which
        carries its mask). context_mask: bool (B, L), True for real tokens (None: all real).
        step_cache: skip the blocks on steps whose input barely changed (sampling only; see
        kinema/dit/step_cache.py). Returns (B, C, T, H, W).
        """
        batch, channels, frames, height, width = x.shape
        grid = patch_grid((frames, height, width), self.patch_size)
        positions = grid_positions(grid, x.device)  # (N, 3)
        split = self.sequence_split
        if split is not None:
            positions = split.shard(positions, dim=0)  # (N/P, 3): this worker's tokens
        rope = rope_frequencies(positions, self.head_dim, self.cfg.rope_theta)  # 2 × (N, hd/2)
        cond, cond_index = self._time_conditioning(t, batch, frames, positions)
        prepared = context if isinstance(context, PreparedText) else None
        if prepared is not None:
            context, context_mask = None, prepared.mask
            if prepared.pooled is not None:
                cond = cond + prepared.pooled[:, None]
        elif self.pooled_embedder is not None:
            cond = cond + self.pooled_embedder(masked_mean(context, context_mask))[:, None]

        patches = patchify(x, self.patch_size)  # (B, N, C·pt·ph·pw)
        if split is not None:
            patches = split.shard(patches, dim=1)  # (B, N/P, C·pt·ph·pw)
        tokens = self.x_embedder(patches)  # (B, N or N/P, D)
        if self.position_embedder is not None:
            tokens = tokens + self.position_embedder(positions, grid)  # (N or N/P, D) broadcast
        if prepared is None:
            context = self.context_embedder(context)  # (B, L, D)
        if step_cache is not None and step_cache.reuse(self._indicator(tokens, cond, cond_index)):
            tokens = tokens + step_cache.residual
        else:
            start = tokens
            for index, block in enumerate(self.blocks):
                keys_values = None if prepared is None else prepared.keys_values[index]
                tokens = block(tokens, cond, context, context_mask, rope, cond_index, keys_values)
            if step_cache is not None:
                step_cache.store(tokens - start)
        out = self.final_layer(tokens, cond, cond_index)  # (B, N or N/P, C·pt·ph·pw)
        if split is not None:
            out = split.gather(out, dim=1)  # (B, N/P, ·) on each worker -> (B, N, ·)
        return unpatchify(out, self.patch_size, grid, channels)

    def _indicator(self, tokens: Tensor, cond: Tensor, cond_index: Tensor | None) -> Tensor:
        """The first block's modulated input: what the step cache compares across steps."""
        if self.sequence_split is not None:
            raise ValueError("the step cache needs every token on one worker")
        first = self.blocks[0]
        mod = token_modulation(first.modulation(cond), cond_index)  # (B, 1 or N, 6D)
        shift, scale = mod.chunk(6, dim=-1)[:2]
        return modulate(first.norm1(tokens), shift, scale)

    def _time_conditioning(
        self, t: Tensor, batch: int, frames: int, positions: Tensor
    ) -> tuple[Tensor, Tensor | None]:
        """Timestep embedding as (B, 1, D) for per-sample t, or (B, T/pt, D) plus each token's
        frame-row index (N,) for per-frame t."""
        if t.ndim == 0:
            t = t.expand(batch)
        if t.shape == (batch,):
            return self.t_embedder(t)[:, None], None  # (B, 1, D): broadcast over tokens
        if t.shape == (batch, frames):
            # (B, T) -> (B, T/pt): a token spanning pt frames takes their mean time
            t = reduce(t.float(), "b (f pt) -> b f", "mean", pt=self.patch_size[0])
            # positions come from grid_positions, so a token's t index is its row in (B, T/pt, D)
            return self.t_embedder(t), positions[:, 0]  # (B, T/pt, D), (N,)
        raise ValueError(
            f"t must be (B,) = ({batch},) or (B, T) = ({batch}, {frames}), got {tuple(t.shape)}"
        )
