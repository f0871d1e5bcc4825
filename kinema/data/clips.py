"""A run's clips: the index (and image folder) read, probed where needed, put into buckets.

Files that cannot be used are reported once and left out; they never stop a run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from kinema.config import DataConfig
from kinema.data.buckets import Bucket, assign_bucket
from kinema.data.index import Clip, read_index
from kinema.data.media import MediaError, image_clip, probe, video_clip
from kinema.data.resample import available_frames, last_start, source_indices
from kinema.data.scan import Skipped, find_media
from kinema.errors import KinemaError

REPORTED_LINES = 20  # skipped files named one by one; the rest are counted


@dataclass(frozen=True)
class ClipRef:
    """One clip to decode: which file, which source frames, at which size."""

    path: Path
    indices: tuple[int, ...]  # source frames; (0,) for an image
    fps: float  # of the source
    height: int
    width: int
    image: bool


@dataclass(frozen=True)
class ClipSet:
    clips: tuple[Clip, ...]
    bucket_of: tuple[int, ...]  # bucket index per clip
    last_start: tuple[int, ...]  # latest start frame per clip (0 for images)
    fps: float  # the target frame rate
    skipped: tuple[Skipped, ...]

    def groups(self) -> dict[int, list[int]]:
        """bucket -> indices of its clips"""
        groups: dict[int, list[int]] = {}
        for index, bucket in enumerate(self.bucket_of):
            groups.setdefault(bucket, []).append(index)
        return groups

    def ref(self, index: int, start: int, bucket: Bucket) -> ClipRef:
        clip = self.clips[index]
        if clip.is_image:
            return ClipRef(clip.path, (0,), 0.0, bucket.height, bucket.width, True)
        indices = source_indices(start, bucket.frames, clip.fps, self.fps)
        return ClipRef(clip.path, tuple(indices), clip.fps, bucket.height, bucket.width, False)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _images(source: str) -> list[Clip]:
    path = Path(source)
    clips = find_media(path) if path.is_dir() else read_index(path)
    return [clip for clip in clips if clip.is_image]


def _report(skipped: list[Skipped], report: Callable[[str], None]) -> None:
    if not skipped:
        return
    report(f"kinema data: skipping {len(skipped)} unusable file(s)")
    for item in skipped[:REPORTED_LINES]:
        report(f"  {item.path}: {item.reason} ({item.detail})")
    if len(skipped) > REPORTED_LINES:
        report(f"  … and {len(skipped) - REPORTED_LINES} more")


def load_clips(
    data: DataConfig,
    buckets: list[Bucket],
    fps: float,
    report: Callable[[str], None] = _stderr,
) -> ClipSet:
    """The usable clips of a data config, each with its bucket. Reported once per process."""
    if not data.index and not data.images:
        raise KinemaError("no data: give a dataset index (and/or an image folder)")
    sources = (data.index, data.images)
    stamps = tuple(Path(p).stat().st_mtime_ns if p and Path(p).exists() else 0 for p in sources)
    shapes = tuple((b.height, b.width, b.frames) for b in buckets)
    return _load(data, shapes, fps, stamps, report)


@lru_cache(maxsize=8)
def _load(
    data: DataConfig,
    shapes: tuple[tuple[int, int, int], ...],
    fps: float,
    stamps: tuple[int, ...],
    report: Callable[[str], None],
) -> ClipSet:
    del stamps  # part of the cache key only: an edited index or folder is read again
    if not 0.0 <= data.image_ratio <= 1.0:
        raise KinemaError(f"image_ratio must be in [0, 1], got {data.image_ratio}")
    clips = read_index(Path(data.index)) if data.index else []
    clips += _images(data.images) if data.images else []
    buckets = [Bucket(h, w, t, 1) for h, w, t in shapes]
    shortest = min((b.frames for b in buckets if not b.is_image), default=0)
    usable, bucket_of, starts, skipped = [], [], [], []
    for clip in clips:
        if not clip.probed:
            try:
                clip = replace(clip, **asdict(probe(clip.path)))
            except MediaError as error:
                skipped.append(Skipped(str(clip.path), error.reason, error.detail))
                continue
        frames = 1 if clip.is_image else available_frames(clip.num_frames, clip.fps, fps)
        bucket = assign_bucket(clip.height, clip.width, frames, clip.is_image, buckets)
        if bucket is None:
            need = "an image bucket" if clip.is_image else f"{shortest} (the shortest bucket)"
            detail = f"{frames} frame(s) at {fps:g} fps; needs {need}"
            skipped.append(Skipped(str(clip.path), "too short", detail))
            continue
        usable.append(clip)
        bucket_of.append(bucket)
        starts.append(
            0
            if clip.is_image
            else last_start(clip.num_frames, buckets[bucket].frames, clip.fps, fps)
        )
    _report(skipped, report)
    if not usable:
        raise KinemaError(f"no usable clips in '{data.index or data.images}'")
    if data.image_ratio > 0 and not any(clip.is_image for clip in usable):
        raise KinemaError(f"image_ratio is {data.image_ratio} but there are no usable images")
    return ClipSet(tuple(usable), tuple(bucket_of), tuple(starts), fps, tuple(skipped))


def read_clip(ref: ClipRef) -> np.ndarray | str:
    """Decode one clip as (T, H, W, 3) uint8, or say why it cannot be (for worker processes)."""
    try:
        if ref.image:
            return image_clip(ref.path, ref.height, ref.width)
        return video_clip(ref.path, ref.indices, ref.fps, ref.height, ref.width)
    except MediaError as error:
        return f"{error.reason} ({error.detail})"
