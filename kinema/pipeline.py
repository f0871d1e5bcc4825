"""Prompt in, frames out: text encoding, flow sampling with guidance, autoencoder decoding."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from kinema import modes
from kinema.dit import PreparedText, patch_grid
from kinema.dit.step_cache import StepCache
from kinema.errors import KinemaError
from kinema.flow import (
    EDIT_METHODS,
    SAMPLERS,
    GivenFrames,
    VelocityFn,
    classifier_free_guidance,
    flow_edit,
    interpolate,
    invert_then_sample,
    partial_schedule,
    sampling_schedule,
    shift_for_tokens,
    with_given_frames,
)
from kinema.model import KinemaModel

MAX_PROMPT_CHARS = 1000
# Latent frames the autoencoder decodes at a time (32 pixel frames): its activations, the
# largest tensors of a generation, stay those of one chunk however long the video.
DECODE_CHUNK = 8


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
    # Prompting modes (at most one; see kinema.modes). Inputs of any size are resized to
    # cover the output and centre-cropped.
    image: np.ndarray | None = None  # (H, W, 3) uint8: the first frame to animate
    extend: np.ndarray | None = None  # (T, H, W, 3) uint8: a clip to continue
    direction: str = "forward"  # extend: "forward" (after the clip) or "backward" (before)
    loop: bool = False  # a clip whose last frame leads back into its first
    connect: tuple[np.ndarray, np.ndarray] | None = None  # a transition from clip A to clip B
    edit: np.ndarray | None = None  # (T, H, W, 3) uint8: re-rendered under the prompt
    strength: float = 0.6  # edit: the flow time the edit starts from (SDEdit at 1: no input)
    # edit: "flowedit" (moves by the difference between the prompt and `source_prompt`, what
    # the input shows, empty if not known), "invert" (the input inverted to `strength`
    # under the source prompt, then sampled under the prompt) or "sdedit" (the input noised
    # to `strength`, then sampled). On shapes-tiny colour edits at 0.6, FlowEdit kept the
    # object within 1.7-1.9 px of its path where SDEdit drifted 2.2-2.5 px
    # (benchmarks/edit_methods.py, docs/modes.md); see kinema/flow/editing.py.
    edit_method: str = "flowedit"
    source_prompt: str = ""
    # Skip the transformer's blocks on steps whose input barely changed (kinema/dit/
    # step_cache.py): the threshold on the accumulated relative change; 0 computes every step.
    step_cache: float = 0.0
    # Low-memory mode: decode one latent frame at a time, and keep the text encoder and the
    # autoencoder off the accelerator except while they run.
    low_memory: bool = False
    # Text-to-video in two passes (the first frames, then the rest animated from them; see
    # FlowConfig.factorized). None: the model's default.
    factorized: bool | None = None

    def mode(self) -> str:
        """text, image, extend, loop, connect or edit; refuses a request naming two."""
        named = {
            "image": self.image is not None,
            "extend": self.extend is not None,
            "connect": self.connect is not None,
            "edit": self.edit is not None,
        }
        chosen = [name for name, given in named.items() if given]
        if self.loop and chosen not in ([], ["image"]):
            raise KinemaError(f"loop combines with image only, not with {chosen[0]}")
        if len(chosen) > 1:
            raise KinemaError(f"choose one mode at a time, got {' and '.join(chosen)}")
        if self.loop:
            return "loop"
        return chosen[0] if chosen else "text"


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
    latent_frames = model.autoencoder.latent_frames(frames)
    if latent_frames % dit.patch_size[0]:
        raise KinemaError(
            f"the latent frame count (1 + (frames - 1) / 4 = {latent_frames}) must be "
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


def fit_frames(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """(T, H', W', 3) or (H', W', 3) uint8 -> (T, H, W, 3): resized to cover, centre-cropped."""
    from kinema.data.media import fit_frame  # PyAV's area resampling, as for training clips

    clip = frames[None] if frames.ndim == 3 else frames
    if clip.ndim != 4 or clip.shape[-1] != 3 or len(clip) == 0:
        raise KinemaError(f"input frames must be (T, H, W, 3) RGB, got {tuple(frames.shape)}")
    if clip.shape[1:3] == (height, width):
        return clip.astype(np.uint8, copy=False)
    return np.stack([fit_frame(frame, height, width) for frame in clip])


@dataclass(frozen=True)
class _Settings:
    frames: int  # of one generation window
    height: int
    width: int
    steps: int
    guidance: float
    sampler: str
    factorized: bool


def _settings(model: KinemaModel, request: GenerationRequest, mode: str) -> _Settings:
    cfg = model.config
    # extend: --frames counts the frames to add; each window has the model's own length
    frames = cfg.frames if mode == "extend" else request.frames or cfg.frames
    if mode == "edit":
        frames = len(modes.edit_frames(request.edit, cfg.autoencoder.temporal_compression))
    height = request.height or cfg.height
    width = request.width or cfg.width
    check_geometry(model, frames, height, width)
    sampler = request.sampler or cfg.flow.sampler
    if sampler not in SAMPLERS:
        raise KinemaError(f"sampler must be one of {', '.join(SAMPLERS)}, got '{sampler}'")
    steps = request.steps or cfg.flow.sample_steps
    if request.step_cache < 0:
        raise KinemaError(f"step cache threshold must be >= 0, got {request.step_cache}")
    if steps < 1:
        raise KinemaError(f"steps must be at least 1, got {steps}")
    if request.edit_method not in EDIT_METHODS:
        methods = ", ".join(EDIT_METHODS)
        raise KinemaError(f"edit method must be one of {methods}, got '{request.edit_method}'")
    if mode == "edit" and request.edit_method != "sdedit" and request.step_cache > 0:
        raise KinemaError(
            f"the step cache skips steps of one prompt; the {request.edit_method} edit "
            "alternates two: leave --step-cache out"
        )
    guidance = cfg.flow.guidance if request.guidance is None else request.guidance
    factorized = cfg.flow.factorized if request.factorized is None else request.factorized
    return _Settings(frames, height, width, steps, guidance, sampler, factorized)


def _factorizes(model: KinemaModel, settings: _Settings) -> bool:
    """Whether text-to-video samples in two passes: asked for, and the clip is longer than
    the first temporal patch of latent frames."""
    first_patch = model.config.transformer.patch_size[0]
    return settings.factorized and model.autoencoder.latent_frames(settings.frames) > first_patch


@contextmanager
def on_device(module: torch.nn.Module, device: torch.device, borrow: bool) -> Iterator[None]:
    """`module` on `device` for the block; with `borrow` (the low-memory mode's text encoder
    and autoencoder on an accelerator) back on the CPU after it."""
    module.to(device)  # a no-op where it already is
    try:
        yield
    finally:
        if borrow:
            module.to("cpu")


class _WindowSampler:
    """Samples windows of latent frames for one request, all from one seeded noise stream."""

    def __init__(
        self,
        model: KinemaModel,
        request: GenerationRequest,
        settings: _Settings,
        windows: int,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        self.model = model
        self.settings = settings
        self.temporal = model.config.autoencoder.temporal_compression
        self.generator = torch.Generator().manual_seed(request.seed)
        device = model.device
        # Low memory on an accelerator: the text encoder and autoencoder wait on the CPU.
        self.borrow = request.low_memory and device.type != "cpu"
        self.decode_chunk = 1 if request.low_memory else DECODE_CHUNK
        prompts = [check_prompt(request.prompt), request.negative_prompt]
        if request.edit is not None and request.edit_method != "sdedit":
            prompts.append(request.source_prompt)  # what the input shows
        # The low-memory mode's encoder stays on the CPU when the memo holds every prompt.
        encoder_needed = not model.remembers(prompts)
        with (
            on_device(model.text_encoder, device, self.borrow) if encoder_needed else nullcontext()
        ):
            # One call, so the rows share one padded length and batch for guidance.
            rows, masks = (encoded.split(1) for encoded in model.encode_prompts(prompts))

        # Each prompt is the same at every step: its embedding and each block's text keys
        # and values are computed on its first call only (by the identity of its tensor).
        prepared: dict[int, tuple[Tensor, PreparedText]] = {}

        def model_fn(x: Tensor, t: Tensor, context: Tensor, context_mask: Tensor) -> Tensor:
            if id(context) not in prepared:
                prepared[id(context)] = (
                    context,  # held, so that its id is not reused
                    model.transformer.prepare_text(context, context_mask),
                )
            text = prepared[id(context)][1]
            return model.transformer(x, t, text, step_cache=self.step_cache)

        def guided(row: int, scale: float) -> VelocityFn:
            return classifier_free_guidance(
                model_fn,
                {"context": rows[row], "context_mask": masks[row]},
                {"context": rows[1], "context_mask": masks[1]},
                scale,
            )

        self.velocity_fn = guided(0, settings.guidance)
        # The source prompt without guidance: guided inversion drifts (at the shapes-tiny
        # model's guidance 4, inverting an edit moved its object 7.4 px against 2.1 px).
        self.source_fn = guided(2, 1.0) if len(rows) > 2 else None
        self.edit_method = request.edit_method
        self.cache_threshold = request.step_cache
        self.step_cache: StepCache | None = None  # a fresh one for every window
        self.total = windows * settings.steps
        self.done = 0
        self.progress = progress

    def _latent_shape(self, frames: int) -> tuple[int, ...]:
        ae = self.model.config.autoencoder
        s = ae.spatial_compression
        return (
            1,
            ae.latent_channels,
            self.model.autoencoder.latent_frames(frames),
            self.settings.height // s,
            self.settings.width // s,
        )

    def encode(self, pixels: np.ndarray) -> Tensor:
        """(T, H, W, 3) uint8 -> the normalised latent (1, C, L, h, w) (the posterior mean)."""
        device = self.model.device
        with on_device(self.model.autoencoder, device, self.borrow):
            mean, _ = self.model.autoencoder.encode(frames_to_video(pixels[None], device))
        return self.model.normalize_latent(mean)

    def decode(self, latent: Tensor) -> np.ndarray:
        """Normalised latent (1, C, L, h, w) -> (T, H, W, 3) uint8, a chunk at a time."""
        latent = self.model.denormalize_latent(latent)
        autoencoder = self.model.autoencoder
        with on_device(autoencoder, latent.device, self.borrow):
            chunks = autoencoder.decode_chunks(latent, self.decode_chunk)
            return np.concatenate([video_to_frames(chunk) for chunk in chunks])

    def given(self, window: modes.Window) -> GivenFrames:
        latent = self.encode(modes.fill_unknown(window))
        known = torch.from_numpy(modes.known_latents(window.known, self.temporal))
        pt = self.model.config.transformer.patch_size[0]
        known = known.view(-1, pt).all(dim=1).repeat_interleave(pt)  # whole tokens only
        return GivenFrames(latent, known.to(latent.device))

    def _step_done(self, _step: int, _total: int) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(min(self.done, self.total), self.total)

    def _noise(self, shape: tuple[int, ...]) -> Tensor:
        return torch.randn(shape, generator=self.generator).to(self.model.device)

    def _schedule(self, shape: tuple[int, ...]) -> Tensor:
        """The shifted sampling times for a latent of `shape` (the shift grows with tokens)."""
        num_tokens = math.prod(patch_grid(shape[2:], self.model.config.transformer.patch_size))
        shift = shift_for_tokens(num_tokens, self.model.config.flow)
        return sampling_schedule(self.settings.steps, shift).to(self.model.device)

    def _integrate(self, velocity_fn: VelocityFn, start: Tensor, schedule: Tensor) -> Tensor:
        if self.cache_threshold > 0:
            self.step_cache = StepCache(self.cache_threshold)
        sampler = SAMPLERS[self.settings.sampler]
        return sampler(velocity_fn, start, schedule, callback=self._step_done)

    def first_frames(self, shape: tuple[int, ...]) -> GivenFrames:
        """Factorized text-to-video's first pass: the first temporal patch of latent frames
        sampled alone (an image, with one-frame patches), given to the second pass."""
        pt = self.model.config.transformer.patch_size[0]
        first_shape = (*shape[:2], pt, *shape[3:])  # (1, C, pt, h, w)
        noise, schedule = self._noise(first_shape), self._schedule(first_shape)
        first = self._integrate(self.velocity_fn, noise, schedule)
        latent = torch.zeros(shape, dtype=first.dtype, device=first.device)
        latent[:, :, :pt] = first
        known = torch.zeros(shape[2], dtype=torch.bool, device=first.device)
        known[:pt] = True
        return GivenFrames(latent, known)

    def sample(
        self,
        window: modes.Window | None = None,
        edit: np.ndarray | None = None,
        strength: float = 1.0,
    ) -> np.ndarray:
        """One window -> (T, H, W, 3) uint8."""
        frames = self.settings.frames if window is None else len(window.pixels)
        shape = self._latent_shape(frames)
        given = None
        if window is None and edit is None and _factorizes(self.model, self.settings):
            # drawn first, so a video starts with the image its seed makes at --frames 1
            given = self.first_frames(shape)
        noise = self._noise(shape)
        schedule = self._schedule(shape)
        if window is not None:
            given = self.given(window)
        velocity_fn, start = self.velocity_fn, noise
        if given is not None:
            velocity_fn = with_given_frames(velocity_fn, given)
            start = given.apply(noise)
        if edit is not None:
            return self.decode(self._edit(self.encode(edit), noise, schedule, strength))
        latent = self._integrate(velocity_fn, start, schedule)
        if given is not None:
            latent = given.apply(latent)
        return self.decode(latent)

    def _edit(self, source: Tensor, noise: Tensor, schedule: Tensor, strength: float) -> Tensor:
        """The edited latent of `source` from time `strength` down (an edit is one window)."""
        schedule = partial_schedule(schedule, strength)
        self.total = len(schedule) - 1
        if self.edit_method == "sdedit":  # start part of the way from the input to noise
            start = interpolate(source, noise, schedule[:1].expand(1))
            return self._integrate(self.velocity_fn, start, schedule)
        if self.edit_method == "invert":
            return invert_then_sample(
                self.source_fn,
                self.velocity_fn,
                source,
                schedule,
                self.settings.sampler,
                callback=self._step_done,
            )
        return flow_edit(
            self.source_fn,
            self.velocity_fn,
            source,
            schedule,
            lambda x: self._noise(tuple(x.shape)),
            callback=self._step_done,
        )


def _extend(sampler: _WindowSampler, clip: np.ndarray, added: int, backward: bool) -> np.ndarray:
    """Window after window until `added` frames are made; memory stays that of one window."""
    frames, temporal = sampler.settings.frames, sampler.temporal
    made: list[np.ndarray] = []
    video = clip
    while sum(len(m) for m in made) < added:
        if backward:
            window, context = modes.backward_window(video, frames, temporal)
            new = sampler.sample(window)[: frames - context]
            video = np.concatenate([new, video])
        else:
            window, context = modes.forward_window(video, frames, temporal)
            new = sampler.sample(window)[context:]
            video = np.concatenate([video, new])
        made.append(new)
    surplus = sum(len(m) for m in made) - added
    return video[surplus:] if backward else video[: len(video) - surplus]


@torch.no_grad()
def generate(
    model: KinemaModel,
    request: GenerationRequest,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Generate one video -> (T, H, W, 3) uint8. Deterministic for a seed on a device.

    text and image: a window of `frames`. extend: the input with `frames` new frames after
    (or before) it. loop: `frames - 4` frames that play seamlessly in a cycle. connect: A, a
    transition, then B. edit: the input's longest 1 + 4k prefix, re-rendered.
    `progress(step, total)` is called after every sampling step.
    """
    check_prompt(request.prompt)
    mode = request.mode()
    settings = _settings(model, request, mode)
    size = (settings.height, settings.width)
    temporal = model.config.autoencoder.temporal_compression
    if mode == "extend":
        clip = fit_frames(request.extend, *size)
        if request.direction not in ("forward", "backward"):
            raise KinemaError(f"direction must be forward or backward, got '{request.direction}'")
        backward = request.direction == "backward"
        added = request.frames or settings.frames - 1
        if added < 1:
            raise KinemaError(f"an extension adds at least 1 frame, got {added}")
        windows = modes.extension_windows(len(clip), added, settings.frames, temporal, backward)
        sampler = _WindowSampler(model, request, settings, windows, progress)
        return _extend(sampler, clip, added, backward)
    if mode == "edit" and not 0.0 < request.strength <= 1.0:
        raise KinemaError(f"edit strength must be in (0, 1], got {request.strength}")
    windows = 2 if mode == "loop" else 1
    if mode in ("text", "loop") and request.image is None and _factorizes(model, settings):
        windows += 1  # factorized text-to-video's first pass
    sampler = _WindowSampler(model, request, settings, windows, progress)
    if mode == "text":
        return sampler.sample()
    if mode == "image":
        return sampler.sample(
            modes.image_window(fit_frames(request.image, *size)[0], settings.frames)
        )
    if mode == "edit":
        edit = modes.edit_frames(fit_frames(request.edit, *size), temporal)
        return sampler.sample(edit=edit, strength=request.strength)
    if mode == "loop":
        first = (
            sampler.sample()
            if request.image is None
            else sampler.sample(
                modes.image_window(fit_frames(request.image, *size)[0], settings.frames)
            )
        )
        return sampler.sample(modes.loop_window(first, temporal))[: settings.frames - temporal]
    a, b = (fit_frames(clip, *size) for clip in request.connect)
    transition = sampler.sample(modes.connect_window(a, b, settings.frames, temporal))
    return np.concatenate([a, transition[1 : settings.frames - temporal], b])
