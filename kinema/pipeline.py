"""Prompt in, frames out: text encoding, flow sampling with guidance, autoencoder decoding."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from kinema.dit import patch_grid
from kinema.errors import KinemaError
from kinema.flow import SAMPLERS, classifier_free_guidance, sampling_schedule, shift_for_tokens
from kinema.model import KinemaModel

MAX_PROMPT_CHARS = 1000


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    seed: int = 0
    steps: int | None = None  # None: the model's default
    guidance: float | None = None
    frames: int | None = None
    height: int | None = None
    width: int | None = None
    negative_prompt: str = ""
    sampler: str | None = None


def check_prompt(prompt: str) -> str:
    text = prompt.strip()
    if not text:
        raise KinemaError("prompt is empty: describe the video to generate")
    if len(text) > MAX_PROMPT_CHARS:
        raise KinemaError(f"prompt is {len(text)} characters; the limit is {MAX_PROMPT_CHARS}")
    return text


def check_geometry(model: KinemaModel, frames: int, height: int, width: int) -> None:
    """Refuse a size the autoencoder's compression and the transformer's patches can't make."""
    ae, dit = model.config.autoencoder, model.config.transformer
    temporal = ae.temporal_compression
    if frames < 1 or (frames - 1) % temporal:
        raise KinemaError(
            f"frames must be of the form 1 + {temporal}k (1, {1 + temporal}, "
            f"{1 + 2 * temporal}, …), got {frames}"
        )
    latent_frames = 1 + (frames - 1) // temporal
    if latent_frames % dit.patch_size[0]:
        raise KinemaError(
            f"the latent frame count (1 + (frames - 1) / {temporal} = {latent_frames}) must be "
            f"divisible by the temporal patch size {dit.patch_size[0]}"
        )
    spatial = (("height", height, dit.patch_size[1]), ("width", width, dit.patch_size[2]))
    for name, size, patch in spatial:
        multiple = ae.spatial_compression * patch
        if size < multiple or size % multiple:
            raise KinemaError(
                f"{name} must be a positive multiple of {multiple} (spatial compression "
                f"{ae.spatial_compression} × patch {patch}), got {size}"
            )


def video_to_frames(video: Tensor) -> np.ndarray:
    """(1, 3, T, H, W) in [-1, 1] -> (T, H, W, 3) uint8."""
    pixels = ((video[0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return pixels.permute(1, 2, 3, 0).cpu().numpy()


def frames_to_video(frames: np.ndarray, device: torch.device) -> Tensor:
    """(B, T, H, W, 3) uint8 -> (B, 3, T, H, W) float in [-1, 1]."""
    video = torch.from_numpy(np.ascontiguousarray(frames)).to(device)
    return video.permute(0, 4, 1, 2, 3).float() / 127.5 - 1


@torch.no_grad()
def generate(
    model: KinemaModel,
    request: GenerationRequest,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Generate one video -> (T, H, W, 3) uint8. Deterministic for a seed on a device."""
    cfg = model.config
    prompt = check_prompt(request.prompt)
    frames = request.frames or cfg.frames
    height = request.height or cfg.height
    width = request.width or cfg.width
    check_geometry(model, frames, height, width)
    sampler_name = request.sampler or cfg.flow.sampler
    if sampler_name not in SAMPLERS:
        raise KinemaError(f"sampler must be one of {', '.join(SAMPLERS)}, got '{sampler_name}'")
    steps = request.steps or cfg.flow.sample_steps
    if steps < 1:
        raise KinemaError(f"steps must be at least 1, got {steps}")
    guidance = cfg.flow.guidance if request.guidance is None else request.guidance

    device = model.device
    ae = cfg.autoencoder
    shape = (
        1,
        ae.latent_channels,
        1 + (frames - 1) // ae.temporal_compression,
        height // ae.spatial_compression,
        width // ae.spatial_compression,
    )
    generator = torch.Generator().manual_seed(request.seed)
    noise = torch.randn(shape, generator=generator).to(device)

    context, mask = model.text_encoder.encode([prompt])
    negative, negative_mask = model.text_encoder.encode([request.negative_prompt])

    def model_fn(x: Tensor, t: Tensor, context: Tensor, context_mask: Tensor) -> Tensor:
        return model.transformer(x, t, context, context_mask)

    velocity_fn = classifier_free_guidance(
        model_fn,
        {"context": context, "context_mask": mask},
        {"context": negative, "context_mask": negative_mask},
        guidance,
    )
    num_tokens = math.prod(patch_grid(shape[2:], cfg.transformer.patch_size))
    schedule = sampling_schedule(steps, shift_for_tokens(num_tokens, cfg.flow)).to(device)
    latent = SAMPLERS[sampler_name](velocity_fn, noise, schedule, callback=progress)
    video = model.autoencoder.decode(model.denormalize_latent(latent))
    return video_to_frames(video)
