"""The HTTP endpoints: OpenAI's Videos API paths plus Kinema's extend and connect.

Handlers are thin: read the body, then hand it to `intake` (checks and queueing) in a
thread, because decoding uploads and writing files must not stall the event loop.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from kinema.server import intake, schemas
from kinema.server.bodies import read_body, validate
from kinema.server.errors import ApiError, bad_request
from kinema.server.files import VARIANTS, VIDEO_ID
from kinema.server.openapi import error_responses, request_body
from kinema.server.state import ServerState, server_state
from kinema.server.store import COMPLETED, Job

router = APIRouter(tags=["videos"])
State = Annotated[ServerState, Depends(server_state)]
VideoId = Annotated[str, Path(max_length=64, description="A video id: video_ and 32 hex digits.")]


def video_object(job: Job, state: ServerState) -> schemas.Video:
    fps = state.geometry.fps
    error = None
    if job.error_code is not None:
        error = schemas.VideoError(code=job.error_code, message=job.error_message or "")
    frames = round(float(job.seconds) * fps) + 1 if job.status == COMPLETED else None
    return schemas.Video(
        id=job.id,
        model=job.model,
        status=job.status,
        progress=job.progress,
        created_at=job.created_at,
        completed_at=job.completed_at,
        prompt=job.prompt,
        seconds=job.seconds,
        size=job.size,
        remixed_from_video_id=job.remixed_from_video_id,
        error=error,
        mode=job.mode,
        frames=frames,
        fps=fps,
        seed=job.spec.seed,
    )


def _find(state: ServerState, video_id: str) -> Job:
    job = state.store.get(video_id) if VIDEO_ID.match(video_id) else None
    if job is None:
        raise ApiError(404, f"no video with id '{video_id}'", code="not_found", param="video_id")
    return job


async def _form(request: Request, state: ServerState, model: type[schemas.BaseModel]):
    intake.check_capacity(state)
    fields, files = await read_body(request, state.config.limits.max_upload_bytes)
    return validate(model, fields, files), files


@router.post(
    "/videos",
    response_model=schemas.Video,
    summary="Create a video (text, image-to-video with input_reference, or a loop)",
    openapi_extra=request_body(schemas.CreateVideo, schemas.CreateVideoForm),
    responses=error_responses(400, 413, 415, 429),
)
async def create_video(request: Request, state: State) -> schemas.Video:
    body, files = await _form(request, state, schemas.CreateVideo)
    job = await run_in_threadpool(intake.create, state, body, files)
    return video_object(job, state)


@router.get(
    "/videos",
    response_model=schemas.VideoList,
    summary="List videos, newest first by default, with cursor paging",
    responses=error_responses(400),
)
def list_videos(
    state: State,
    after: Annotated[str | None, Query(max_length=64, description="The last id seen.")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
) -> schemas.VideoList:
    try:
        jobs, has_more = state.store.page(after, limit, ascending=order == "asc")
    except KeyError:
        raise bad_request(f"after: no video with id '{after}'", "after") from None
    data = [video_object(job, state) for job in jobs]
    return schemas.VideoList(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=has_more,
    )


@router.get(
    "/videos/{video_id}",
    response_model=schemas.Video,
    summary="Retrieve a video's status and progress",
    responses=error_responses(404),
)
def retrieve_video(video_id: VideoId, state: State, response: Response) -> schemas.Video:
    job = _find(state, video_id)
    response.headers["openai-poll-after-ms"] = str(state.config.poll_after_ms)
    return video_object(job, state)


@router.delete(
    "/videos/{video_id}",
    response_model=schemas.VideoDeleted,
    summary="Delete a video; a queued or running one is cancelled",
    responses=error_responses(404),
)
def delete_video(video_id: VideoId, state: State) -> schemas.VideoDeleted:
    if not VIDEO_ID.match(video_id) or state.store.delete(video_id) is None:
        raise ApiError(404, f"no video with id '{video_id}'", code="not_found", param="video_id")
    state.worker.cancel(video_id)
    state.files.remove(video_id)
    return schemas.VideoDeleted(id=video_id)


@router.get(
    "/videos/{video_id}/content",
    summary="Download the video (mp4), its thumbnail (webp) or its sprite sheet (jpeg)",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The file.",
            "content": {media: {} for _, media in VARIANTS.values()},
        },
        **error_responses(400, 404, 409),
    },
)
def download_content(
    video_id: VideoId,
    state: State,
    variant: Literal["video", "thumbnail", "spritesheet"] = "video",
) -> FileResponse:
    job = _find(state, video_id)
    if job.status != COMPLETED:
        raise ApiError(
            409,
            f"video '{video_id}' is {job.status}; its content is ready once it is completed",
            code="video_not_ready",
        )
    path = state.files.variant(video_id, variant)
    if not path.is_file():
        raise ApiError(404, f"the {variant} of '{video_id}' is missing", code="not_found")
    name, media_type = VARIANTS[variant]
    return FileResponse(
        path, media_type=media_type, filename=f"{video_id}{name[name.rindex('.') :]}"
    )


@router.post(
    "/videos/{video_id}/remix",
    response_model=schemas.Video,
    summary="Remix a completed video: re-render it under a new prompt",
    openapi_extra=request_body(schemas.RemixVideo),
    responses=error_responses(400, 404, 409, 415, 429),
)
async def remix_video(video_id: VideoId, request: Request, state: State) -> schemas.Video:
    body, _ = await _form(request, state, schemas.RemixVideo)
    job = await run_in_threadpool(intake.remix, state, video_id, body)
    return video_object(job, state)


@router.post(
    "/videos/{video_id}/extend",
    response_model=schemas.Video,
    summary="Extend a completed video forward (after its end) or backward (before its start)",
    openapi_extra=request_body(schemas.ExtendVideo),
    responses=error_responses(400, 404, 409, 415, 429),
)
async def extend_video(video_id: VideoId, request: Request, state: State) -> schemas.Video:
    body, _ = await _form(request, state, schemas.ExtendVideo)
    job = await run_in_threadpool(intake.extend, state, video_id, body)
    return video_object(job, state)


@router.post(
    "/videos/extensions",
    response_model=schemas.Video,
    summary="Extend a completed video by id, or an uploaded video (the SDK's videos.extend)",
    openapi_extra=request_body(schemas.ExtensionVideo, schemas.ExtensionVideoForm),
    responses=error_responses(400, 404, 409, 413, 415, 429),
)
async def create_extension(request: Request, state: State) -> schemas.Video:
    body, files = await _form(request, state, schemas.ExtensionVideo)
    job = await run_in_threadpool(intake.extension, state, body, files)
    return video_object(job, state)


@router.post(
    "/videos/edits",
    response_model=schemas.Video,
    summary="Edit a completed video by id, or an uploaded video (the SDK's videos.edit)",
    openapi_extra=request_body(schemas.EditVideo, schemas.EditVideoForm),
    responses=error_responses(400, 404, 409, 413, 415, 429),
)
async def create_edit(request: Request, state: State) -> schemas.Video:
    body, files = await _form(request, state, schemas.EditVideo)
    job = await run_in_threadpool(intake.edit, state, body, files)
    return video_object(job, state)


@router.post(
    "/videos/connect",
    response_model=schemas.Video,
    summary="Connect two completed videos with a generated transition",
    openapi_extra=request_body(schemas.ConnectVideos),
    responses=error_responses(400, 404, 409, 415, 429),
)
async def connect_videos(request: Request, state: State) -> schemas.Video:
    body, _ = await _form(request, state, schemas.ConnectVideos)
    job = await run_in_threadpool(intake.connect, state, body)
    return video_object(job, state)


@router.get(
    "/kinema",
    response_model=schemas.Capabilities,
    tags=["kinema"],
    summary="What this server's model can make: sizes, durations, modes, limits",
)
def capabilities(state: State) -> schemas.Capabilities:
    geometry, limits = state.geometry, state.config.limits
    return schemas.Capabilities(
        model=state.model_name,
        fps=geometry.fps,
        default_size=geometry.default_size,
        default_seconds=geometry.default_seconds,
        sizes=list(geometry.suggested_sizes()),
        size_rule=(
            f"WIDTHxHEIGHT, width a multiple of {geometry.width_multiple}, height a multiple "
            f"of {geometry.height_multiple}, at most {geometry.max_pixels} pixels"
        ),
        seconds=list(geometry.allowed_seconds),
        extension_seconds=list(geometry.extension_seconds),
        modes=["text", "image", "loop", "remix", "edit", "extend", "connect"],
        max_prompt_chars=limits.max_prompt_chars,
        max_upload_bytes=limits.max_upload_bytes,
        max_steps=limits.max_steps,
        api_key_required=state.config.api_key is not None,
    )
