"""Spacetime patches: cut a latent video into a token sequence and put it back together.

Tokens are ordered t-major, then h, then w; each token's features are ordered (c, pt, ph, pw).
`grid_positions` gives the integer (t, h, w) patch index of every token in that same order.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from einops import rearrange
from torch import Tensor

from kinema.errors import KinemaError

Size3 = tuple[int, int, int]


def patch_grid(latent_shape_thw: Sequence[int], patch_size: Size3) -> Size3:
    """Number of patches along (t, h, w). Each latent dimension must divide by its patch size."""
    if len(latent_shape_thw) != 3 or len(patch_size) != 3:
        raise ValueError(
            f"expected (t, h, w) latent shape and patch size, got {tuple(latent_shape_thw)} "
            f"and {tuple(patch_size)}"
        )
    if any(p < 1 for p in patch_size):
        raise ValueError(f"patch sizes must be positive, got {tuple(patch_size)}")
    for name, size, patch in zip("thw", latent_shape_thw, patch_size, strict=True):
        if size % patch != 0:
            raise KinemaError(
                f"each latent dimension must be divisible by its patch size: latent (t, h, w) = "
                f"{tuple(latent_shape_thw)}, patch size = {tuple(patch_size)}, "
                f"{name} = {size} is not a multiple of {patch}"
            )
    t, h, w = (size // patch for size, patch in zip(latent_shape_thw, patch_size, strict=True))
    return t, h, w


def patchify(x: Tensor, patch_size: Size3) -> Tensor:
    """(B, C, T, H, W) latent -> (B, N, C·pt·ph·pw) tokens, N = (T/pt)·(H/ph)·(W/pw)."""
    patch_grid(x.shape[2:], patch_size)  # clear error before einops' generic one
    pt, ph, pw = patch_size
    # (B, C, t·pt, h·ph, w·pw) -> (B, t·h·w, C·pt·ph·pw)
    return rearrange(x, "b c (t pt) (h ph) (w pw) -> b (t h w) (c pt ph pw)", pt=pt, ph=ph, pw=pw)


def unpatchify(tokens: Tensor, patch_size: Size3, grid: Size3, channels: int) -> Tensor:
    """Inverse of `patchify`: (B, N, C·pt·ph·pw) tokens on a (t, h, w) grid -> (B, C, T, H, W)."""
    pt, ph, pw = patch_size
    gt, gh, gw = grid
    expected = (gt * gh * gw, channels * pt * ph * pw)
    if tuple(tokens.shape[1:]) != expected:
        raise ValueError(
            f"tokens of shape {tuple(tokens.shape)} do not match grid {tuple(grid)}, "
            f"patch size {tuple(patch_size)} and {channels} channels: expected (B, *{expected})"
        )
    # (B, t·h·w, C·pt·ph·pw) -> (B, C, t·pt, h·ph, w·pw)
    return rearrange(
        tokens,
        "b (t h w) (c pt ph pw) -> b c (t pt) (h ph) (w pw)",
        t=gt,
        h=gh,
        w=gw,
        pt=pt,
        ph=ph,
        pw=pw,
    )


def grid_positions(grid: Size3, device: torch.device | str | None = None) -> Tensor:
    """Integer (t, h, w) index of every token of a patch grid, (N, 3) long, in token order."""
    t, h, w = torch.meshgrid(
        *(torch.arange(n, device=device) for n in grid), indexing="ij"
    )  # each (gt, gh, gw)
    return torch.stack([t, h, w], dim=-1).reshape(-1, 3)  # (gt, gh, gw, 3) -> (N, 3)
