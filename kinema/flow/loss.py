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
    temporal_weight: float = 0.0,
    position_weight: Tensor | None = None,
) -> Tensor:
    """Mean squared error between predicted and target velocity, plus `temporal_weight` ×
    that of its change from one latent frame to the next.

    x0, noise: (B, C, T, H, W); t: (B,) or (B, T) per latent frame.
    loss_mask: optional (B, T) bool, True where a latent frame counts (frames given clean as
    conditioning are excluded; a frame-to-frame change counts where both frames do).
    The temporal term weighs errors in how the video changes, where motion lives, above
    errors in what each frame shows. Both terms are quadratic forms of the same error, so
    their sum is minimised by the same predictor (the conditional mean velocity); only the
    emphasis of learning moves.
    position_weight: optional (B, 1, T, H, W) weight of each latent position's squared error
    in the first term (`foreground_latent_weights`).
    """
    x_t = interpolate(x0, noise, t)
    error = velocity_fn(x_t, t) - velocity_target(x0, noise)  # (B, C, T, H, W)
    frames = None if loss_mask is None else loss_mask.to(error.dtype)  # (B, T)
    squared = error**2 if position_weight is None else error**2 * position_weight
    loss = _masked_mean(squared, frames)
    if temporal_weight > 0 and error.shape[2] > 1:
        change = error[:, :, 1:] - error[:, :, :-1]  # (B, C, T-1, H, W)
        pairs = None if frames is None else frames[:, 1:] * frames[:, :-1]
        loss = loss + temporal_weight * _masked_mean(change**2, pairs)
    return loss


def _masked_mean(values: Tensor, frames: Tensor | None) -> Tensor:
    """Mean of (B, C, T, H, W) values over the latent frames weighted 1 in `frames` (B, T)."""
    if frames is None:
        return values.mean()
    weight = frames[:, None, :, None, None].expand_as(values)
    return (values * weight).sum() / weight.sum().clamp_min(1.0)


def foreground_latent_weights(x0: Tensor, strength: float) -> Tensor:
    """Per-position weights `1 + strength · d`, (B, 1, T, H, W): d is how far a clean latent
    position is from its frame's per-channel median, averaged over channels.

    On a flat background the objects hold a few latent positions; a plain mean spends most
    of the loss on background, while the object's positions carry its shape.
    """
    # x0 (B, C, T, H, W) -> per-frame, per-channel medians (B, C, T, 1, 1)
    median = x0.flatten(3).median(dim=3).values[..., None, None]
    return 1.0 + strength * (x0 - median).abs().mean(dim=1, keepdim=True)


def per_sample_loss(error: Tensor) -> Tensor:
    """Mean over every dimension but the batch (for logging per-sample losses)."""
    return error.flatten(1).mean(1) if error.ndim > 1 else error
