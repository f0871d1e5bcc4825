"""3D rotary position embedding (RoPE) for spacetime tokens.

A head of size d is d/2 rotation pairs; pair i is (x[i], x[i + d/2]) ("rotate half" layout).
The pairs are split between the axes: t gets max(1, ⌊(d/2)/4⌋) pairs and h, w share the rest
(w takes the odd one), so head_dim 16 -> 4/6/6 dims, 32 -> 8/12/12, 64 -> 16/24/24,
128 -> 32/48/48. Time gets the smaller share because latent videos have far fewer frames than
rows or columns. Each axis uses the usual spectrum theta^(-i/n) over its own n pairs, so a
query-key score depends only on the (Δt, Δh, Δw) offset between the two tokens.
"""

from __future__ import annotations

import torch
from torch import Tensor


def rope_axis_pairs(head_dim: int) -> tuple[int, int, int]:
    """Rotation pairs given to (t, h, w); head_dim must be even and at least 6."""
    if head_dim % 2 != 0 or head_dim < 6:
        raise ValueError(
            f"3D RoPE needs an even head_dim of at least 6 (one rotation pair per axis t, h, w "
            f"at least), got {head_dim}"
        )
    pairs = head_dim // 2
    t = max(1, pairs // 4)
    h = (pairs - t) // 2
    return t, h, pairs - t - h


def rope_frequencies(
    positions: Tensor, head_dim: int, theta: float = 10000.0, dtype: torch.dtype = torch.float32
) -> tuple[Tensor, Tensor]:
    """cos and sin of every token's rotation angles, each (N, head_dim/2).

    `positions` is (N, 3) integer (t, h, w); it need not be contiguous or start at 0 (windows,
    shards), as angles come from the values given. Angles are formed in float64 so that large
    positions keep exact relative phases, then cast to `dtype`.
    """
    if positions.ndim != 2 or positions.shape[-1] != 3:
        raise ValueError(f"positions must be (N, 3), got {tuple(positions.shape)}")
    pos = positions.to(torch.float64)
    angles = []
    for axis, n in enumerate(rope_axis_pairs(head_dim)):
        exponent = torch.arange(n, dtype=torch.float64, device=positions.device) / n
        angles.append(pos[:, axis, None] * theta**-exponent)  # (N, 1) * (n,) -> (N, n)
    angle = torch.cat(angles, dim=-1)  # (N, head_dim/2)
    return angle.cos().to(dtype), angle.sin().to(dtype)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate queries or keys x (B, heads, N, head_dim) by their tokens' angles (N, head_dim/2)."""
    compute = torch.promote_types(x.dtype, torch.float32)  # rotate in >= fp32 under bf16
    x1, x2 = x.to(compute).chunk(2, dim=-1)  # each (B, heads, N, head_dim/2)
    cos, sin = cos.to(compute), sin.to(compute)  # broadcast over B and heads
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).to(x.dtype)
