"""Probing and decoding media files: videos through PyAV (FFmpeg), images through Pillow.

Every failure of a file (missing, empty, not a video, truncated) is a `MediaError` with a
short reason, so callers can skip the file and report it instead of stopping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_DECODE_ERRORS = (av.FFmpegError, OSError, IndexError, ValueError, EOFError)
_IMAGE_ERRORS = (OSError, ValueError, Image.DecompressionBombError, SyntaxError)


class MediaError(Exception):
    """A file that cannot be used; `reason` is one of missing, empty, unreadable."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class MediaInfo:
    num_frames: int
    height: int
    width: int
    fps: float  # 0 for an image


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise MediaError("missing", "no such file")
    if path.stat().st_size == 0:
        raise MediaError("empty", "zero bytes")


def probe(path: Path) -> MediaInfo:
    """Frame count, size and frame rate of a file; decodes one frame to prove it decodes."""
    path = Path(path)
    _check_file(path)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        frame = read_image(path)
        return MediaInfo(1, frame.shape[0], frame.shape[1], 0.0)
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            packets, first = 0, None
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                packets += 1
                if first is None:
                    first = next(iter(packet.decode()), None)
    except _DECODE_ERRORS as error:
        raise MediaError("unreadable", str(error) or type(error).__name__) from None
    if packets == 0:
        raise MediaError("empty", "no video frames")
    if first is None:
        raise MediaError("unreadable", "no frame decodes")
    if fps <= 0:
        raise MediaError("unreadable", "no frame rate")
    return MediaInfo(packets, first.height, first.width, fps)


def read_image(path: Path) -> np.ndarray:
    """An image file as (H, W, 3) uint8."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except _IMAGE_ERRORS as error:
        raise MediaError("unreadable", str(error) or type(error).__name__) from None


def cover_size(height: int, width: int, target_h: int, target_w: int) -> tuple[int, int]:
    """The smallest size with the source's aspect ratio that covers the target."""
    scale = max(target_h / height, target_w / width)
    return max(target_h, round(height * scale)), max(target_w, round(width * scale))


def _center_crop(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    top, left = (frame.shape[0] - height) // 2, (frame.shape[1] - width) // 2
    return frame[top : top + height, left : left + width]


def _to_size(frame: av.VideoFrame, height: int, width: int) -> np.ndarray:
    """Resize to cover (area averaging when shrinking), then centre-crop: (H, W, 3) uint8."""
    h, w = cover_size(frame.height, frame.width, height, width)
    pixels = frame.reformat(width=w, height=h, format="rgb24", interpolation="AREA").to_ndarray()
    return _center_crop(pixels, height, width)


def fit_frame(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H', W', 3) uint8 -> (H, W, 3): resized to cover the target, then centre-cropped."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels, dtype=np.uint8), format="rgb24")
    return _to_size(frame, height, width)


def image_clip(path: Path, height: int, width: int) -> np.ndarray:
    """An image as a one-frame clip (1, H, W, 3), resized and cropped like video frames."""
    return fit_frame(read_image(path), height, width)[None]


class _NoTimestamps(Exception):
    pass


def _frame_index(frame: av.VideoFrame, origin: int, fps: float) -> int:
    if frame.pts is None:
        raise _NoTimestamps
    return round(float((frame.pts - origin) * frame.time_base) * fps)


def _decode(path: Path, indices: Sequence[int], fps: float, size: tuple[int, int], seek: bool):
    wanted = sorted(set(indices))
    picked: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        origin = stream.start_time or 0
        if seek and wanted[0] > 0:
            # Half a frame early, so rounding never lands the seek after the first wanted frame.
            seconds = (wanted[0] - 0.5) / fps
            container.seek(origin + int(seconds / stream.time_base), stream=stream)
        previous, last_index, cursor = None, -1, 0
        for counted, frame in enumerate(container.decode(stream)):
            index = _frame_index(frame, origin, fps) if seek else counted
            # A gap in the timestamps (a dropped frame) holds the previous frame.
            while cursor < len(wanted) and wanted[cursor] <= index:
                target = wanted[cursor]
                source = frame if target == index or previous is None else previous
                picked[target] = _to_size(source, *size)
                cursor += 1
            previous, last_index = frame, index
            if cursor == len(wanted):
                break
    if cursor < len(wanted):
        raise MediaError("unreadable", f"ends at frame {last_index}, before frame {wanted[cursor]}")
    return np.stack([picked[i] for i in indices])


def video_clip(
    path: Path, indices: Sequence[int], fps: float, height: int, width: int
) -> np.ndarray:
    """Source frames `indices` of a video, resized to cover and centre-cropped: (T, H, W, 3).

    Seeks to the first frame and maps presentation timestamps to frame numbers; a file
    without timestamps is decoded from its start and its frames counted instead.
    """
    path = Path(path)
    _check_file(path)
    try:
        try:
            return _decode(path, indices, fps, (height, width), seek=True)
        except _NoTimestamps:
            return _decode(path, indices, fps, (height, width), seek=False)
    except _DECODE_ERRORS as error:
        raise MediaError("unreadable", str(error) or type(error).__name__) from None
