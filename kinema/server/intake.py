"""From a validated request to a queued job: check it, gather its pixel inputs, queue it.

Every rule a request can break is checked here, before anything is queued, so a refused
request gets a 400 naming the rule instead of a job that fails later.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from kinema.errors import KinemaError
from kinema.pipeline import check_prompt
from kinema.server import schemas
from kinema.server.errors import ApiError, bad_request
from kinema.server.files import VIDEO_ID, new_video_id
from kinema.server.jobs import JobSpec
from kinema.server.state import ServerState
from kinema.server.store import COMPLETED, Job, QueueFull
from kinema.server.uploads import decode_data_url, decode_image, decode_video


def queue_full(state: ServerState) -> ApiError:
    limit = state.config.limits.max_queue
    return ApiError(
        429,
        f"{limit} videos are already queued or being generated; try again when one finishes",
        code="queue_full",
        headers={"Retry-After": "5"},
    )


def check_capacity(state: ServerState) -> None:
    """Refuse early, before uploads are decoded, when the queue is full."""
    if state.store.active_count() >= state.config.limits.max_queue:
        raise queue_full(state)


def _base_spec(state: ServerState, body: schemas.GenerationOptions, prompt: str) -> dict:
    limits = state.config.limits
    try:
        text = check_prompt(prompt)
    except KinemaError as error:
        raise bad_request(str(error), "prompt") from None
    if len(text) > limits.max_prompt_chars:
        raise bad_request(
            f"prompt is {len(text)} characters; the limit is {limits.max_prompt_chars}", "prompt"
        )
    if len(body.negative_prompt) > limits.max_prompt_chars:
        raise bad_request(
            f"negative_prompt is longer than {limits.max_prompt_chars} characters",
            "negative_prompt",
        )
    if body.steps is not None and body.steps > limits.max_steps:
        raise bad_request(f"steps may be at most {limits.max_steps}, got {body.steps}", "steps")
    return {
        "prompt": text,
        "seed": body.seed,
        "steps": body.steps,
        "guidance": body.guidance,
        "negative_prompt": body.negative_prompt,
    }


def completed_frames(state: ServerState, video_id: str, param: str) -> tuple[Job, np.ndarray]:
    """A completed video of this server and its exact frames."""
    job = state.store.get(video_id) if VIDEO_ID.match(video_id) else None
    if job is None:
        raise ApiError(404, f"no video with id '{video_id}'", code="not_found", param=param)
    if job.status != COMPLETED:
        raise ApiError(
            409,
            f"video '{video_id}' is {job.status}; only completed videos can be used",
            code="video_not_completed",
            param=param,
        )
    frames = state.files.output_frames(video_id)
    if frames is None:
        raise ApiError(404, f"the frames of video '{video_id}' are missing", code="not_found")
    return job, frames


def _enqueue(
    state: ServerState,
    spec: JobSpec,
    inputs: dict[str, np.ndarray],
    frames: int,
    remixed_from: str | None = None,
) -> Job:
    """Save inputs first, then insert the row: the worker never sees a job without them."""
    video_id = new_video_id()
    for name, array in inputs.items():
        state.files.save_input(video_id, name, array)
    spec = replace(spec, inputs=tuple(inputs))
    try:
        job = state.store.add(
            video_id,
            model=state.model_name,
            spec=spec,
            seconds=state.geometry.seconds_of(frames),
            size=f"{spec.width}x{spec.height}",
            max_active=state.config.limits.max_queue,
            remixed_from_video_id=remixed_from,
        )
    except QueueFull:
        state.files.remove(video_id)
        raise queue_full(state) from None
    state.worker.wake()
    return job


def _upload(
    state: ServerState, files: dict[str, bytes], name: str, video: bool, size: tuple[int, int]
) -> np.ndarray | None:
    """An uploaded file decoded at the job's size (height, width), or None if not sent."""
    if name not in files:
        return None
    limits = state.config.limits
    if video:
        return decode_video(
            files[name],
            name,
            state.geometry.fps,
            limits.max_clip_frames,
            limits.max_input_pixels,
            fit=size,
        )
    return decode_image(files[name], name, limits.max_input_pixels, fit=size)


def create(state: ServerState, body: schemas.CreateVideo, files: dict[str, bytes]) -> Job:
    """Text-, image-to-video and loops (POST /v1/videos)."""
    geometry, limits = state.geometry, state.config.limits
    base = _base_spec(state, body, body.prompt)
    height, width = geometry.parse_size(body.size)
    frames = geometry.parse_seconds(body.seconds)
    image = _upload(state, files, "input_reference", video=False, size=(height, width))
    reference = body.input_reference
    if image is None and reference is not None:
        if reference.file_id is not None:
            raise bad_request(
                "input_reference.file_id is not supported: upload the image file or pass a "
                "data: URL as input_reference.image_url",
                "input_reference",
            )
        if reference.image_url is not None:
            image = decode_data_url(
                reference.image_url,
                "input_reference",
                limits.max_upload_bytes,
                limits.max_input_pixels,
                fit=(height, width),
            )
    inputs = {} if image is None else {"image": image}
    if body.loop:
        if frames < 1 + geometry.temporal:
            raise bad_request(
                f"a loop lasts at least {geometry.seconds_of(1 + geometry.temporal)} seconds",
                "seconds",
                "invalid_seconds",
            )
        # The pipeline makes a loop from a window `temporal` frames longer than the cycle.
        spec = JobSpec(
            mode="loop", frames=frames + geometry.temporal, height=height, width=width, **base
        )
    else:
        mode = "text" if image is None else "image"
        spec = JobSpec(mode=mode, frames=frames, height=height, width=width, **base)
    return _enqueue(state, spec, inputs, frames)


def _edit(
    state: ServerState,
    body: schemas.GenerationOptions,
    prompt: str,
    strength: float | None,
    source: np.ndarray,
    size: tuple[int, int],
    mode: str,
    made_by: Job | None,
) -> Job:
    """`made_by`: the job of a video made here, whose prompt tells the edit what it shows."""
    base = _base_spec(state, body, prompt)
    # An edit re-renders the clip in one window: its longest makeable prefix.
    frames = state.geometry.clip_frames(len(source))
    height, width = size
    spec = JobSpec(
        mode=mode,
        frames=frames,
        height=height,
        width=width,
        strength=strength,
        source_prompt=made_by.prompt if made_by is not None else "",
        **base,
    )
    remixed_from = made_by.id if made_by is not None else None
    return _enqueue(state, spec, {"video": source[:frames]}, frames, remixed_from)


def remix(state: ServerState, video_id: str, body: schemas.RemixVideo) -> Job:
    """POST /v1/videos/{video_id}/remix: the same video under a new prompt."""
    made_by, source = completed_frames(state, video_id, "video_id")
    size = source.shape[1:3]
    return _edit(state, body, body.prompt, body.strength, source, size, "remix", made_by)


def edit(state: ServerState, body: schemas.EditVideo, files: dict[str, bytes]) -> Job:
    """POST /v1/videos/edits: a completed video (by id) or an uploaded one, re-rendered."""
    if "video" in files:
        size = state.geometry.parse_size(body.size)
        uploaded = _upload(state, files, "video", video=True, size=size)
        return _edit(state, body, body.prompt, body.strength, uploaded, size, "edit", None)
    if body.video is None:
        raise bad_request("video is required: a video file or {'id': <completed video>}", "video")
    made_by, source = completed_frames(state, body.video.id, "video")
    size = source.shape[1:3]
    return _edit(state, body, body.prompt, body.strength, source, size, "edit", made_by)


def _extend(
    state: ServerState,
    body: schemas.GenerationOptions,
    prompt: str,
    seconds: schemas.Seconds | None,
    direction: str,
    source: np.ndarray,
    size: tuple[int, int],
) -> Job:
    geometry, limits = state.geometry, state.config.limits
    base = _base_spec(state, body, prompt)
    added = geometry.parse_extension(seconds)
    total = len(source) + added
    if total > limits.max_clip_frames:
        raise bad_request(
            f"the extended video would have {total} frames; the limit is {limits.max_clip_frames}",
            "seconds",
            "video_too_long",
        )
    if direction == "backward" and len(source) < geometry.temporal:
        raise bad_request(
            f"extending backward needs a video of at least {geometry.temporal} frames",
            "direction",
        )
    height, width = size
    spec = JobSpec(
        mode="extend", frames=added, height=height, width=width, direction=direction, **base
    )
    return _enqueue(state, spec, {"video": source}, total)


def extend(state: ServerState, video_id: str, body: schemas.ExtendVideo) -> Job:
    """POST /v1/videos/{video_id}/extend: new frames after (or before) a completed video."""
    _, source = completed_frames(state, video_id, "video_id")
    size = source.shape[1:3]
    return _extend(state, body, body.prompt, body.seconds, body.direction, source, size)


def extension(state: ServerState, body: schemas.ExtensionVideo, files: dict[str, bytes]) -> Job:
    """POST /v1/videos/extensions: a completed video (by id) or an uploaded one, extended."""
    if "video" in files:
        size = state.geometry.parse_size(body.size)
        uploaded = _upload(state, files, "video", video=True, size=size)
        return _extend(state, body, body.prompt, body.seconds, body.direction, uploaded, size)
    if body.video is None:
        raise bad_request("video is required: a video file or {'id': <completed video>}", "video")
    _, source = completed_frames(state, body.video.id, "video")
    size = source.shape[1:3]
    return _extend(state, body, body.prompt, body.seconds, body.direction, source, size)


def connect(state: ServerState, body: schemas.ConnectVideos) -> Job:
    """POST /v1/videos/connect: the first video, a new transition, then the second."""
    geometry = state.geometry
    base = _base_spec(state, body, body.prompt)
    _, first = completed_frames(state, body.first.id, "first")
    _, second = completed_frames(state, body.second.id, "second")
    added = geometry.parse_transition(body.seconds)
    height, width = first.shape[1:3]
    # The transition's window holds A's last frame, the new frames and B's first `temporal`.
    window = added + 1 + geometry.temporal
    total = len(first) + added + len(second)
    if total > state.config.limits.max_clip_frames:
        raise bad_request(
            f"the connected video would have {total} frames; the limit is "
            f"{state.config.limits.max_clip_frames}",
            "seconds",
            "video_too_long",
        )
    spec = JobSpec(mode="connect", frames=window, height=height, width=width, **base)
    return _enqueue(state, spec, {"first": first, "second": second}, total)
