"""The straight-line probability path between data (t = 0) and noise (t = 1)."""

from torch import Tensor


def broadcast_time(t: Tensor, x: Tensor) -> Tensor:
    """Shape a time tensor to broadcast against a latent `x` of shape (B, C, T, H, W).

    `t` is (B,) — one time per sample — or (B, T) — one time per latent frame.
    """
    if t.ndim == 1:
        return t.view(-1, *([1] * (x.ndim - 1)))
    if t.ndim == 2:
        return t.view(t.shape[0], 1, t.shape[1], *([1] * (x.ndim - 3)))
    raise ValueError(f"time must be (B,) or (B, T), got shape {tuple(t.shape)}")


def interpolate(x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
    """x_t = (1 - t) x0 + t eps."""
    tb = broadcast_time(t, x0)
    return (1 - tb) * x0 + tb * noise


def velocity_target(x0: Tensor, noise: Tensor) -> Tensor:
    """d x_t / d t along the path: eps - x0."""
    return noise - x0
