"""ODE samplers from noise (t = 1) to data (t = 0): pure functions of a velocity function."""

from collections.abc import Callable

import torch
from torch import Tensor

VelocityFn = Callable[[Tensor, Tensor], Tensor]
"""velocity_fn(x, t) -> v, with x (B, ...) and t (B,)."""

StepCallback = Callable[[int, int], None]
"""callback(step_index, total_steps), called after each step (progress reporting)."""


def _times(t: Tensor, x: Tensor) -> Tensor:
    return torch.full((x.shape[0],), float(t), dtype=x.dtype, device=x.device)


def euler_sample(
    velocity_fn: VelocityFn,
    noise: Tensor,
    timesteps: Tensor,
    callback: StepCallback | None = None,
) -> Tensor:
    """First-order steps x <- x + (t_next - t) v(x, t) along a decreasing schedule."""
    x = noise
    total = len(timesteps) - 1
    for i in range(total):
        t, t_next = timesteps[i], timesteps[i + 1]
        x = x + (t_next - t) * velocity_fn(x, _times(t, x))
        if callback is not None:
            callback(i + 1, total)
    return x


def heun_sample(
    velocity_fn: VelocityFn,
    noise: Tensor,
    timesteps: Tensor,
    callback: StepCallback | None = None,
) -> Tensor:
    """Second-order (trapezoidal) steps: two velocity evaluations per step."""
    x = noise
    total = len(timesteps) - 1
    for i in range(total):
        t, t_next = timesteps[i], timesteps[i + 1]
        dt = t_next - t
        v = velocity_fn(x, _times(t, x))
        x_euler = x + dt * v
        v_next = velocity_fn(x_euler, _times(t_next, x))
        x = x + dt * (v + v_next) / 2
        if callback is not None:
            callback(i + 1, total)
    return x


SAMPLERS: dict[str, Callable[..., Tensor]] = {"euler": euler_sample, "heun": heun_sample}
