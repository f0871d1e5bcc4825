"""Untrusted uploads -> frames: images through Pillow, videos through PyAV, both bounded.

Only PNG, JPEG and WebP images and MP4/MOV, WebM/Matroska and GIF videos are read. A video's
container is recognised from its first bytes and then opened with that demuxer alone, so
FFmpeg never guesses a format that could open other files or URLs (playlists, concat
lists). Sizes are checked before pixels are decoded.
"""

from __future__ import annotations

import base64
import binascii
import io

import av
import numpy as np
from PIL import Image

from kinema.data.media import fit_frame
from kinema.data.resample import available_frames, source_indices
from kinema.server.errors import ApiError, bad_request

IMAGE_FORMATS = ("PNG", "JPEG", "WEBP")
IMAGE_TYPES = "PNG, JPEG or WebP"
VIDEO_TYPES = "MP4/MOV, WebM or GIF (or a PNG, JPEG or WebP image as a one-frame video)"
_IMAGE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def too_large(param: str, limit: int) -> ApiError:
    return ApiError(
        413, f"{param} is larger than {limit} bytes", code="file_too_large", param=param
    )


def _is_image(data: bytes) -> bool:
    return (
        data[:8] == b"\x89PNG\r\n\x1a\n"
        or data[:3] == b"\xff\xd8\xff"
        or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")
    )


def _video_format(data: bytes) -> str | None:
    """The FFmpeg demuxer for a video's first bytes, among the accepted ones."""
    if data[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
        return "mov"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None


def _fitted(frame: np.ndarray, fit: tuple[int, int] | None) -> np.ndarray:
    """A decoded frame resized to cover `fit` (height, width) and centre-cropped, at once, so
    a large upload never sits in memory or on disk at its own size."""
    return frame if fit is None or frame.shape[:2] == fit else fit_frame(frame, *fit)


def decode_image(
    data: bytes, param: str, max_pixels: int, fit: tuple[int, int] | None = None
) -> np.ndarray:
    """A PNG/JPEG/WebP file -> (1, H, W, 3) uint8 (the first frame of an animation), at
    `fit` (height, width) when given."""
    if not _is_image(data):
        raise bad_request(f"{param} must be a {IMAGE_TYPES} image", param, "invalid_image")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in IMAGE_FORMATS:
                raise bad_request(f"{param} must be a {IMAGE_TYPES} image", param, "invalid_image")
            width, height = image.size
            if width * height > max_pixels:
                raise bad_request(
                    f"{param} is {width}x{height}; images may have at most {max_pixels} pixels",
                    param,
                    "image_too_large",
                )
            pixels = _fitted(np.asarray(image.convert("RGB"), dtype=np.uint8), fit)
    except _IMAGE_ERRORS as error:
        raise bad_request(
            f"{param} is not a readable {IMAGE_TYPES} image ({type(error).__name__})",
            param,
            "invalid_image",
        ) from None
    return pixels[None]


def decode_data_url(
    url: str, param: str, max_bytes: int, max_pixels: int, fit: tuple[int, int] | None = None
) -> np.ndarray:
    """A `data:image/…;base64,…` URL -> (1, H, W, 3). Remote URLs are never fetched."""
    head, _, payload = url.partition(",")
    if not (head.startswith("data:") and head.endswith(";base64")):
        raise bad_request(
            f"{param} must be a base64 data: URL (data:image/png;base64,…); this server does "
            "not fetch remote URLs, upload the file instead",
            param,
            "unsupported_url",
        )
    if len(payload) > max_bytes * 4 // 3 + 4:
        raise too_large(param, max_bytes)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request(f"{param} is not valid base64", param, "invalid_image") from None
    return decode_image(data, param, max_pixels, fit)


def decode_video(
    data: bytes,
    param: str,
    fps: int,
    max_frames: int,
    max_pixels: int,
    fit: tuple[int, int] | None = None,
) -> np.ndarray:
    """A video file (or an image) -> (T, H, W, 3) uint8 resampled to `fps`, each frame at
    `fit` (height, width) when given.

    At most `max_frames` source frames are decoded; a longer video is refused.
    """
    if _is_image(data):
        return decode_image(data, param, max_pixels, fit)
    container_format = _video_format(data)
    if container_format is None:
        raise bad_request(f"{param} must be a {VIDEO_TYPES}", param, "invalid_video")
    try:
        with av.open(io.BytesIO(data), mode="r", format=container_format) as container:
            if not container.streams.video:
                raise bad_request(f"{param} has no video stream", param, "invalid_video")
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            if width * height > max_pixels:
                raise bad_request(
                    f"{param} is {width}x{height}; videos may have at most {max_pixels} pixels "
                    "per frame",
                    param,
                    "video_too_large",
                )
            source_fps = float(stream.average_rate or stream.guessed_rate or 0)
            frames = []
            for frame in container.decode(stream):
                if len(frames) == max_frames:
                    raise bad_request(
                        f"{param} has more than {max_frames} frames; upload a shorter clip",
                        param,
                        "video_too_long",
                    )
                if frame.width * frame.height > max_pixels:
                    raise bad_request(f"{param} changes size mid-stream", param, "invalid_video")
                frames.append(_fitted(frame.to_ndarray(format="rgb24"), fit))
    except (av.FFmpegError, OSError, ValueError, IndexError, EOFError) as error:
        raise bad_request(
            f"{param} is not a readable {VIDEO_TYPES} ({type(error).__name__})",
            param,
            "invalid_video",
        ) from None
    if not frames:
        raise bad_request(f"{param} has no frames", param, "invalid_video")
    if len({frame.shape for frame in frames}) != 1:
        raise bad_request(f"{param} changes size mid-stream", param, "invalid_video")
    clip = np.stack(frames)
    if source_fps <= 0 or abs(source_fps - fps) < 1e-6:
        return clip
    # Motion keeps its real speed at the model's frame rate: skip or repeat frames.
    count = available_frames(len(clip), source_fps, fps)
    return clip[source_indices(0, count, source_fps, fps)]
