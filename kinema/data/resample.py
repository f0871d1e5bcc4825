"""Frame-rate resampling: which source frames make a clip at a target frame rate.

Output frame k of a clip starting at source frame `start` shows the source frame nearest
to its time: `start + floor(k · source_fps / target_fps + 1/2)`. A faster source skips
frames; a slower one repeats them, so motion keeps its real speed either way.
"""

from __future__ import annotations

import math


def frame_offsets(frames: int, source_fps: float, target_fps: float) -> list[int]:
    """Source-frame offsets of the `frames` output frames, relative to the clip's start."""
    if source_fps <= 0 or target_fps <= 0:
        raise ValueError(f"frame rates must be positive, got {source_fps} and {target_fps}")
    step = source_fps / target_fps
    # The tiny epsilon keeps exact halves (e.g. 2.5 at 10 -> 4 fps) from flipping on rounding.
    return [math.floor(k * step + 0.5 + 1e-9) for k in range(frames)]


def available_frames(num_frames: int, source_fps: float, target_fps: float) -> int:
    """The longest clip, in output frames, that a video of `num_frames` source frames holds."""
    if num_frames < 1:
        return 0
    step = source_fps / target_fps
    count = max(1, math.floor((num_frames - 0.5) / step) + 1)
    # Settle float edge cases against the exact rule used by frame_offsets.
    while count > 1 and frame_offsets(count, source_fps, target_fps)[-1] > num_frames - 1:
        count -= 1
    while frame_offsets(count + 1, source_fps, target_fps)[-1] <= num_frames - 1:
        count += 1
    return count


def last_start(num_frames: int, frames: int, source_fps: float, target_fps: float) -> int:
    """The latest start frame whose clip of `frames` output frames still fits (-1: none does)."""
    return num_frames - 1 - frame_offsets(frames, source_fps, target_fps)[-1]


def source_indices(start: int, frames: int, source_fps: float, target_fps: float) -> list[int]:
    return [start + offset for offset in frame_offsets(frames, source_fps, target_fps)]
