"""Classifier-free guidance as a wrapper that returns another velocity function."""

from collections.abc import Callable, Mapping

import torch
from torch import Tensor

from kinema.flow.samplers import VelocityFn

ConditionedVelocityFn = Callable[..., Tensor]
"""model_fn(x, t, **condition) -> v."""


def classifier_free_guidance(
    model_fn: ConditionedVelocityFn,
    condition: Mapping[str, Tensor],
    uncondition: Mapping[str, Tensor],
    scale: float,
) -> VelocityFn:
    """v = v_u + scale (v_c - v_u), both branches in one batched call.

    `uncondition` holds the same keys as `condition` (the empty prompt, or a negative
    prompt). scale = 1 is plain conditional sampling and skips the second branch.
    """
    if scale == 1.0:
        return lambda x, t: model_fn(x, t, **condition)
    both = {key: torch.cat([condition[key], uncondition[key]]) for key in condition}

    def guided(x: Tensor, t: Tensor) -> Tensor:
        v_cond, v_uncond = model_fn(torch.cat([x, x]), torch.cat([t, t]), **both).chunk(2)
        return v_uncond + scale * (v_cond - v_uncond)

    return guided
