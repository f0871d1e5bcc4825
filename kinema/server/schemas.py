"""The API's objects and request bodies as Pydantic models (they also make the OpenAPI schema).

Responses follow OpenAI's Videos API (`video`, `list`, `video.deleted`, `error`); a few
Kinema fields are added (`mode`, `frames`, `fps`, `seed`), which SDK clients ignore.
Requests accept the Videos API's fields plus Kinema's generation options.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kinema.pipeline import MAX_PROMPT_CHARS

Status = Literal["queued", "in_progress", "completed", "failed"]
Mode = Literal["text", "image", "loop", "remix", "edit", "extend", "connect"]
Seconds = str | int | float

MAX_SEED = 2**63 - 1
PROMPT = Field(
    min_length=1, max_length=MAX_PROMPT_CHARS, description="What the video shows (or becomes)."
)


class VideoError(BaseModel):
    code: str
    message: str


class Video(BaseModel):
    """A video job: queued, in progress, completed (downloadable) or failed (with an error)."""

    id: str
    object: Literal["video"] = "video"
    model: str = Field(description="The model that makes the video (the checkpoint's name).")
    status: Status
    progress: int = Field(ge=0, le=100, description="Percent done; moves with sampling steps.")
    created_at: int
    completed_at: int | None = None
    expires_at: int | None = Field(None, description="Always null: videos are kept until deleted.")
    prompt: str | None = None
    seconds: str = Field(description="Duration after the first frame: (frames - 1) / fps.")
    size: str = Field(description="WIDTHxHEIGHT.")
    remixed_from_video_id: str | None = None
    error: VideoError | None = None
    mode: Mode
    frames: int | None = Field(None, description="Frames of the video, once completed.")
    fps: int
    seed: int


class VideoList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Video]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool


class VideoDeleted(BaseModel):
    id: str
    object: Literal["video.deleted"] = "video.deleted"
    deleted: bool = True


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class GenerationOptions(BaseModel):
    """Kinema's sampling options, accepted by every endpoint that makes a video."""

    model_config = ConfigDict(extra="ignore")

    seed: int = Field(0, ge=0, le=MAX_SEED, description="Same seed, same video.")
    steps: int | None = Field(None, ge=1, description="Sampling steps (default: the model's).")
    guidance: float | None = Field(
        None, ge=0, le=100, description="Classifier-free guidance scale (default: the model's)."
    )
    negative_prompt: str = Field(
        "", max_length=MAX_PROMPT_CHARS, description="What guidance steers away from."
    )


class ImageReference(BaseModel):
    image_url: str | None = Field(
        None, description="A base64 data: URL of a PNG, JPEG or WebP image; no remote URLs."
    )
    file_id: str | None = Field(None, description="Not supported: upload the image instead.")


class VideoReference(BaseModel):
    id: str = Field(description="A completed video of this server.")


class CreateVideo(GenerationOptions):
    """POST /v1/videos. With `input_reference` the image is the first frame (image-to-video);
    with `loop` the video plays seamlessly in a cycle (with or without an image)."""

    prompt: str = PROMPT
    model: str | None = Field(
        None, max_length=200, description="Accepted for compatibility; this server's model runs."
    )
    seconds: Seconds | None = Field(
        None, description="Duration after the first frame; see GET /v1/kinema for the allowed."
    )
    size: str | None = Field(None, max_length=32, description="WIDTHxHEIGHT, e.g. '64x64'.")
    input_reference: ImageReference | None = None
    loop: bool = False


class CreateVideoForm(CreateVideo):
    """The multipart/form-data form of POST /v1/videos: `input_reference` is an image file."""

    input_reference: bytes | None = Field(  # type: ignore[assignment]
        None, json_schema_extra={"format": "binary"}, description="PNG, JPEG or WebP file."
    )


class RemixVideo(GenerationOptions):
    """POST /v1/videos/{video_id}/remix: the video re-rendered under a new prompt."""

    prompt: str = PROMPT
    strength: float | None = Field(
        None, gt=0, le=1, description="How far from the source it may move (default 0.6)."
    )


class ExtendVideo(GenerationOptions):
    """POST /v1/videos/{video_id}/extend: new frames after (or before) a completed video."""

    prompt: str = PROMPT
    seconds: Seconds | None = Field(None, description="Duration of the added frames.")
    direction: Literal["forward", "backward"] = "forward"


class EditVideo(GenerationOptions):
    """POST /v1/videos/edits (the SDK's `videos.edit`): a video re-rendered under a prompt."""

    prompt: str = PROMPT
    video: VideoReference | None = None
    size: str | None = Field(None, max_length=32, description="For an uploaded video.")
    strength: float | None = Field(None, gt=0, le=1)


class EditVideoForm(EditVideo):
    video: bytes | None = Field(  # type: ignore[assignment]
        None, json_schema_extra={"format": "binary"}, description="A video file to edit."
    )


class ExtensionVideo(GenerationOptions):
    """POST /v1/videos/extensions (the SDK's `videos.extend`)."""

    prompt: str = PROMPT
    seconds: Seconds | None = Field(None, description="Duration of the added frames.")
    video: VideoReference | None = None
    size: str | None = Field(None, max_length=32, description="For an uploaded video.")
    direction: Literal["forward", "backward"] = "forward"


class ExtensionVideoForm(ExtensionVideo):
    video: bytes | None = Field(  # type: ignore[assignment]
        None, json_schema_extra={"format": "binary"}, description="A video file to extend."
    )


class ConnectVideos(GenerationOptions):
    """POST /v1/videos/connect: `first`, a generated transition, then `second`."""

    prompt: str = PROMPT
    first: VideoReference
    second: VideoReference
    seconds: Seconds | None = Field(None, description="Duration of the transition.")


class Capabilities(BaseModel):
    """What this server's model can make, for clients and the web page."""

    object: Literal["kinema.capabilities"] = "kinema.capabilities"
    model: str
    fps: int
    default_size: str
    default_seconds: str
    sizes: list[str] = Field(description="Suggested sizes; any size within the rule works.")
    size_rule: str
    seconds: list[str]
    extension_seconds: list[str]
    modes: list[str]
    max_prompt_chars: int
    max_upload_bytes: int
    max_steps: int
    api_key_required: bool
