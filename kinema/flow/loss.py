"""The flow-matching training loss."""

from collections.abc import Callable

from torch import Tensor

from kinema.flow.path import interpolate, velocity_target


def flow_matching_loss(
    velocity_fn: Callable[[Tensor, Tensor], Tensor],
    x0: Tensor,
    noise: Tensor,
    t: Tensor,
    loss_mask: Tensor | None = None,
) -> Tensor:
    """Mean squared error between predicted and target velocity.

    x0, noise: (B, C, T, H, W); t: (B,) or (B, T) per latent frame.
    loss_mask: optional (B, T) bool, True where a latent frame counts (frames given clean as
    conditioning are excluded).
    """
    x_t = interpolate(x0, noise, t)
    error = (velocity_fn(x_t, t) - velocity_target(x0, noise)) ** 2
    if loss_mask is None:
        return error.mean()
    weight = loss_mask.to(error.dtype)[:, None, :, None, None].expand_as(error)
    return (error * weight).sum() / weight.sum().clamp_min(1.0)


def per_sample_loss(error: Tensor) -> Tensor:
    """Mean over every dimension but the batch (for logging per-sample losses)."""
    return error.flatten(1).mean(1) if error.ndim > 1 else error
