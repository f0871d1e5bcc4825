"""Rectified flow matching: path, timestep sampling, loss, samplers and guidance.

Convention: t = 0 is data, t = 1 is noise; x_t = (1 - t) x0 + t eps; velocity target eps - x0.
Samplers and guidance are pure functions of a `velocity_fn(x, t) -> v`.
"""

from kinema.flow.conditioning import GivenFrames, partial_schedule, with_given_frames
from kinema.flow.editing import EDIT_METHODS, flow_edit, invert, invert_then_sample
from kinema.flow.guidance import classifier_free_guidance
from kinema.flow.loss import flow_matching_loss, foreground_latent_weights
from kinema.flow.path import broadcast_time, interpolate, velocity_target
from kinema.flow.samplers import SAMPLERS, VelocityFn, euler_sample, heun_sample
from kinema.flow.timesteps import (
    sample_timesteps,
    sampling_schedule,
    shift_for_tokens,
    shift_time,
)

__all__ = [
    "EDIT_METHODS",
    "SAMPLERS",
    "GivenFrames",
    "VelocityFn",
    "broadcast_time",
    "classifier_free_guidance",
    "euler_sample",
    "flow_edit",
    "flow_matching_loss",
    "foreground_latent_weights",
    "heun_sample",
    "interpolate",
    "invert",
    "invert_then_sample",
    "partial_schedule",
    "sample_timesteps",
    "sampling_schedule",
    "shift_for_tokens",
    "shift_time",
    "velocity_target",
    "with_given_frames",
]
