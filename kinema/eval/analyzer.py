"""Frames in, scene out: background, objects (colour, shape, size), tracks and motion.

`analyze_video` is the evaluator's eye. It never sees a caption: everything it reports is
read off the pixels, so the same code judges ground-truth renders and generated videos.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kinema.data.video_io import read_video
from kinema.errors import KinemaError
from kinema.eval.motion import MotionFit, fit_motion
from kinema.eval.segment import (
    Detection,
    background_name,
    detect_objects,
    estimate_background,
)
from kinema.eval.shapes import (
    HIDDEN_RADII,
    UNIT_SHAPES,
    classify_shape,
    fit_hidden,
    radius_from_area,
    size_class,
)
from kinema.eval.tracks import Track, hidden_frames, link_tracks, merge_fragments
from kinema.world.scene import SHAPES

MIN_PRESENCE = 0.5  # a track seen (or hidden) in fewer frames is an artefact, not an object
MIN_SEEN_FRAMES = 2  # and it must show itself more than once
HIDDEN_VIEW_WEIGHT = 0.1  # weight of a shared blob's centroid in the motion fit
REFIT_VIEW_WEIGHT = 0.5  # weight of a partly hidden view's refitted centroid
HIDDEN_SHAPE_VIEWS = 3  # views fitted when an object is never seen whole
HIDDEN_FIT_BUDGET = 120  # per video, in single-radius fits of a hidden view
SHAPE_FRAMES = 6  # frames per track used for shape matching, spread over the clip


@dataclass(frozen=True)
class TrackPoint:
    """An object in one frame: centroid (pixels), covered area (pixels) and colour."""

    frame: int
    x: float
    y: float
    area: float
    colour: str
    isolated: bool


@dataclass(frozen=True)
class AnalyzedObject:
    """One tracked object and what the evaluator reads off it."""

    colour: str
    shape: str
    size: str
    motion: str  # "static", one of the eight directions, "falling" or "bouncing"
    speed: str | None  # "slow" or "fast" for the eight directions, else None
    radius: float  # world radius (half the bounding square) in pixels
    points: tuple[TrackPoint, ...]
    presence: float  # fraction of frames in which it is seen, or hidden by another object
    seen_frames: int
    colour_flicker: float  # fraction of its frames showing another colour than its own
    area_variation: float  # coefficient of variation of its area over unoccluded frames
    fit: MotionFit
    shape_errors: dict[str, float]


@dataclass(frozen=True)
class SceneAnalysis:
    """Everything recovered from one video."""

    background: str
    background_rgb: tuple[float, float, float]
    objects: tuple[AnalyzedObject, ...]
    extra_tracks: int  # short-lived detections that are not counted as objects
    frames: int
    height: int
    width: int
    fps: float


def _spread(items: list[Detection], count: int) -> list[Detection]:
    if len(items) <= count:
        return items
    picks = np.linspace(0, len(items) - 1, count).round().astype(int)
    return [items[i] for i in picks]


@dataclass
class _FitBudget:
    """Searches for partly hidden objects left for one video: each is dear, and a garbage
    video (all blobs touching) must not take minutes."""

    left: int = HIDDEN_FIT_BUDGET

    def take(self, cost: int) -> bool:
        if self.left < cost:
            return False
        self.left -= cost
        return True


def _shape_and_radius(
    seen: list[Detection], apart: list[Detection], budget: _FitBudget
) -> tuple[str, float, dict[str, float], np.ndarray]:
    """(shape, radius, mean error per shape, areas of the views used).

    From whole views where there are any; else by fitting the largest views, leaving out
    the pixels other objects cover.
    """
    reference = [d for d in apart if not d.cut] or apart
    largest = sorted(seen, key=lambda d: d.area)[-HIDDEN_SHAPE_VIEWS:]
    if not reference and not budget.take(len(SHAPES) * len(largest) * len(HIDDEN_RADII)):
        reference = largest[-1:]
    if reference:
        shape, errors = classify_shape([d.patch for d in _spread(reference, SHAPE_FRAMES)])
        areas = np.array([d.area for d in reference])
        return shape, radius_from_area(float(np.median(areas)), shape), errors, areas
    fits = {s: [fit_hidden(d.patch, s) for d in largest] for s in SHAPES}
    errors = {s: float(np.mean([f[3] for f in found])) for s, found in fits.items()}
    shape = min(errors, key=errors.get)
    radius = float(np.median([f[2] for f in fits[shape]]))
    return shape, radius, errors, np.array([UNIT_SHAPES[shape][0] * radius**2])


def _centres(
    seen: list[Detection],
    apart: list[Detection],
    shared: set[int],
    shape: str,
    radius: float,
    budget: _FitBudget,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xs, ys, weights) for the motion fit.

    A partly hidden view's centroid is biased towards its uncovered side, so it is refitted
    with the object's shape and radius; a blob shared with a same-coloured object has no
    such fix and counts for little.
    """
    whole = {id(d) for d in apart}
    xs, ys, weights = [], [], []
    for d in seen:
        x, y = d.x, d.y
        weight = 1.0 if id(d) in whole else HIDDEN_VIEW_WEIGHT
        if d.touching and d.patch.hidden and id(d) not in shared and budget.take(1):
            fx, fy, _, _ = fit_hidden(d.patch, shape, radius)
            if not math.isnan(fx):
                x, y, weight = fx, fy, REFIT_VIEW_WEIGHT
        xs.append(x)
        ys.append(y)
        weights.append(weight)
    return np.array(xs), np.array(ys), np.array(weights)


def _describe(
    track: Track,
    hidden: int,
    shared: set[int],
    budget: _FitBudget,
    scene: tuple[int, int, float, float],
) -> AnalyzedObject:
    height, width, fps, object_scale = scene
    seen = track.seen
    # Views of this object alone: not split from a touching object, and not a blob that
    # also hides another object.
    apart = [d for d in seen if not d.touching and id(d) not in shared]
    votes: Counter[str] = Counter()
    for d in seen:
        votes[d.colour] += d.area
    colour = votes.most_common(1)[0][0]
    shape, radius, errors, areas = _shape_and_radius(seen, apart, budget)
    xs, ys, weights = _centres(seen, apart, shared, shape, radius, budget)
    times = np.array([d.frame / fps for d in seen])
    fit = fit_motion(times, xs, ys, height, width, weights)
    return AnalyzedObject(
        colour=colour,
        shape=shape,
        size=size_class(UNIT_SHAPES[shape][0] * radius**2, shape, height, width, object_scale),
        motion=fit.motion,
        speed=fit.speed,
        radius=radius,
        points=tuple(TrackPoint(d.frame, d.x, d.y, d.area, d.colour, d.isolated) for d in seen),
        presence=(len(seen) + hidden) / len(track.detections),
        seen_frames=len(seen),
        colour_flicker=sum(d.colour != colour for d in seen) / len(seen),
        area_variation=float(areas.std() / areas.mean()) if len(areas) > 1 else 0.0,
        fit=fit,
        shape_errors=errors,
    )


def analyze_video(frames: np.ndarray, fps: float, object_scale: float = 1.0) -> SceneAnalysis:
    """Recover the scene shown by (T, H, W, 3) uint8 frames played at `fps`; sizes are read
    against a world that draws objects `object_scale` times the base sizes."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or min(frames.shape[:3]) < 1:
        raise KinemaError(f"frames must be (T, H, W, 3), got shape {frames.shape}")
    if fps <= 0:
        raise KinemaError(f"fps must be positive, got {fps}")
    count, height, width, _ = frames.shape
    background = estimate_background(frames)
    per_frame = detect_objects(frames, background)
    tracks = merge_fragments(link_tracks(per_frame, height, width, fps), height, width, fps)
    hidden = [hidden_frames(t, per_frame) for t in tracks]
    kept = [
        (t, h)
        for t, h in zip(tracks, hidden, strict=True)
        if len(t.seen) + len(h) >= MIN_PRESENCE * count
        and len(t.seen) >= min(MIN_SEEN_FRAMES, count)
    ]
    shared = {id(d) for _, h in kept for d in h}
    budget = _FitBudget()
    mean_rgb = background.mean(axis=0)
    return SceneAnalysis(
        background=background_name(mean_rgb),
        background_rgb=(float(mean_rgb[0]), float(mean_rgb[1]), float(mean_rgb[2])),
        objects=tuple(
            _describe(t, len(h), shared, budget, (height, width, fps, object_scale))
            for t, h in kept
        ),
        extra_tracks=len(tracks) - len(kept),
        frames=count,
        height=height,
        width=width,
        fps=float(fps),
    )


def analyze_file(path: Path, fps: float | None = None, object_scale: float = 1.0) -> SceneAnalysis:
    """Analyse a video file (mp4, gif, …); `fps` overrides the rate stored in the file;
    sizes are read as `analyze_video` reads them."""
    frames, file_fps = read_video(Path(path))
    rate = fps or file_fps
    if not rate:
        raise KinemaError(f"video '{path}' has no frame rate; pass one")
    return analyze_video(frames, rate, object_scale)
