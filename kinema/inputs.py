"""Images and videos given to a prompting mode: read from disk, at the model's frame rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kinema.data.media import IMAGE_SUFFIXES, MediaError, read_image
from kinema.data.resample import available_frames, source_indices
from kinema.data.video_io import read_video
from kinema.errors import KinemaError


def read_frames(path: Path, fps: float) -> np.ndarray:
    """An image as one frame, or a video's frames resampled to `fps`: (T, H, W, 3) uint8."""
    path = Path(path)
    if not path.is_file():
        raise KinemaError(f"input '{path}' does not exist or is not a file")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        try:
            return read_image(path)[None]
        except MediaError as error:
            raise KinemaError(f"cannot read image '{path}': {error.detail}") from None
    frames, source_fps = read_video(path)
    if source_fps <= 0 or abs(source_fps - fps) < 1e-6:
        return frames
    # Motion keeps its real speed: a faster source skips frames, a slower one repeats them.
    count = available_frames(len(frames), source_fps, fps)
    return frames[source_indices(0, count, source_fps, fps)]


def resize_notice(name: str, frames: np.ndarray, height: int, width: int) -> str | None:
    """What the pipeline does to an input of another size, in words (None: nothing)."""
    h, w = frames.shape[1:3]
    if (h, w) == (height, width):
        return None
    return f"{name}: {w}x{h} resized to cover {width}x{height} and centre-cropped"
