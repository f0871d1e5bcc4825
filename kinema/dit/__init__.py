"""Diffusion transformer over spacetime latent patches, with 3D RoPE and per-frame timesteps."""

from kinema.dit.layers import (
    MLP,
    ContextEmbedder,
    CrossAttention,
    DiTBlock,
    FinalLayer,
    SelfAttention,
    TimestepEmbedder,
    modulate,
)
from kinema.dit.model import DiffusionTransformer, PreparedText
from kinema.dit.patch import grid_positions, patch_grid, patchify, unpatchify
from kinema.dit.rope import apply_rope, rope_axis_pairs, rope_frequencies

__all__ = [
    "MLP",
    "ContextEmbedder",
    "PreparedText",
    "CrossAttention",
    "DiTBlock",
    "DiffusionTransformer",
    "FinalLayer",
    "SelfAttention",
    "TimestepEmbedder",
    "apply_rope",
    "grid_positions",
    "modulate",
    "patch_grid",
    "patchify",
    "rope_axis_pairs",
    "rope_frequencies",
    "unpatchify",
]
