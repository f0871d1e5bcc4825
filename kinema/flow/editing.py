"""Editing a given latent under a new prompt: pure functions of velocity functions.

SDEdit (`partial_schedule` + any sampler) noises the input to time S with fresh noise and
denoises under the new prompt; whatever the noise hid, the new prompt redraws, positions
included. The two samplers here keep more of the input because they also know what it shows
(a source prompt):

- `invert_then_sample`: integrate the input from data up to time S along the source
  prompt's velocity (the reverse of sampling), then sample back down under the target's.
  What both prompts agree on is retraced; only their difference moves the latent.
- `flow_edit`: no inversion (FlowEdit, Kulikov et al. 2024). Along the path from S down
  to 0 the edit moves by the difference of the two prompts' velocities, each taken at a
  noisy point that shares one fresh noise draw: z_src = (1 - t) x_src + t eps and
  z_tar = z_src + (edit - x_src). Where the prompts agree the difference is ~0 whatever the
  noise, so structure stays; where they differ, the edit drifts towards the target.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from kinema.flow.path import interpolate
from kinema.flow.samplers import SAMPLERS, StepCallback, VelocityFn, euler_sample

EDIT_METHODS = ("sdedit", "invert", "flowedit")

NoiseFn = Callable[[Tensor], Tensor]
"""noise_like(x) -> a fresh standard normal draw of x's shape."""


def invert(velocity_fn: VelocityFn, data: Tensor, schedule: Tensor) -> Tensor:
    """Euler steps up an increasing schedule from data (its first time) to its last time:
    the sampler's own steps, which hold in either direction of time."""
    return euler_sample(velocity_fn, data, schedule)


def invert_then_sample(
    source_fn: VelocityFn,
    target_fn: VelocityFn,
    data: Tensor,
    schedule: Tensor,
    sampler: str = "euler",
    callback: StepCallback | None = None,
) -> Tensor:
    """`schedule` decreases from S to 0: invert `data` to S under the source, then sample
    back to 0 under the target."""
    noisy = invert(source_fn, data, schedule.flip(0))
    return SAMPLERS[sampler](target_fn, noisy, schedule, callback=callback)


def flow_edit(
    source_fn: VelocityFn,
    target_fn: VelocityFn,
    data: Tensor,
    schedule: Tensor,
    noise_like: NoiseFn,
    callback: StepCallback | None = None,
) -> Tensor:
    """FlowEdit along a schedule decreasing from S to 0: Euler steps on the edit whose
    velocity is the prompts' difference, with one fresh noise draw per step."""

    def change(edit: Tensor, t: Tensor) -> Tensor:
        noisy_source = interpolate(data, noise_like(data), t)
        noisy_target = noisy_source + (edit - data)
        return target_fn(noisy_target, t) - source_fn(noisy_source, t)

    return euler_sample(change, data, schedule, callback=callback)
