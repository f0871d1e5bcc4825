"""Frames to per-frame object detections: background colour, foreground, colour, coverage.

A pixel is modelled as a blend of the background and one object colour, p = b + a (c - b)
with coverage a in [0, 1] (exactly how the renderer anti-aliases). The background b is
estimated per frame from the border; each foreground pixel's colour is the named object
colour whose blend line passes closest to it ("unmixing"), which stays right on soft edges
where the nearest named colour would not (red fading into white looks pink).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kinema.eval.labels import dilate, label_components
from kinema.eval.shapes import UNIT_SHAPES, AlphaPatch
from kinema.world.scene import BACKGROUND_COLOURS, OBJECT_COLOURS, SIZES, frame_unit

# RGB -> (Y, Cb, Cr). Coverage is measured mostly on luma: JPEG and yuv420p video keep luma
# at full resolution but halve chroma, which would otherwise smear every edge by a pixel.
_YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
CHROMA_WEIGHT = 0.15
_METRIC = _YCBCR.T @ np.diag([1.0, CHROMA_WEIGHT, CHROMA_WEIGHT]) @ _YCBCR

BORDER_INLIER = 40.0  # RGB distance from the border median that still counts as background
MIN_CONTRAST = 60.0  # object colours this close to the background cannot be seen on it
FOREGROUND_FRACTION = 0.5  # of the smallest object-to-background colour distance
SOLID_COVERAGE = 0.5  # pixels at least this covered vote for their component's colour
MIN_AREA_FRACTION = 0.35  # of the smallest object the world draws; less is an artefact
CLEAR_VOTE_RATIO = 0.5  # a pixel's best colour line must be twice as close as the next
SECOND_COLOUR_AREA = 2.0  # in minimum areas: enough of a second colour in a blob is an object

OBJECT_NAMES: tuple[str, ...] = tuple(OBJECT_COLOURS)
_OBJECT_RGB = np.array([OBJECT_COLOURS[name] for name in OBJECT_NAMES], dtype=np.float64)
_BACKGROUND_NAMES: tuple[str, ...] = tuple(BACKGROUND_COLOURS)
_BACKGROUND_RGB = np.array(
    [BACKGROUND_COLOURS[name] for name in _BACKGROUND_NAMES], dtype=np.float64
)


@dataclass(frozen=True, eq=False)
class Detection:
    """One object in one frame. (x, y) is its coverage centroid in pixel coordinates."""

    frame: int
    colour: str
    area: float  # summed coverage, in pixels
    x: float
    y: float
    touching: bool  # split from a blob it shares with an object of another colour
    cut: bool  # reaches the image border, so part of it may be out of view
    patch: AlphaPatch

    @property
    def isolated(self) -> bool:
        return not (self.touching or self.cut)


def min_object_area(height: int, width: int) -> float:
    """Detections smaller than this are treated as artefacts, not objects."""
    smallest = min(area for area, _ in UNIT_SHAPES.values()) * (min(SIZES.values()) ** 2)
    return MIN_AREA_FRACTION * smallest * frame_unit(height, width) ** 2


def estimate_background(frames: np.ndarray) -> np.ndarray:
    """Per-frame background colour (T, 3): the mean of border pixels near their median."""
    video = np.asarray(frames, dtype=np.float64)
    border = np.concatenate(
        [video[:, 0], video[:, -1], video[:, 1:-1, 0], video[:, 1:-1, -1]], axis=1
    )  # (T, P, 3)
    centre = np.median(border, axis=1)  # (T, 3)
    for _ in range(2):
        near = np.linalg.norm(border - centre[:, None], axis=2) < BORDER_INLIER  # (T, P)
        counts = near.sum(axis=1, keepdims=True)
        mean = (border * near[..., None]).sum(axis=1) / np.maximum(counts, 1)
        centre = np.where(counts > 0, mean, centre)
    return centre


def background_name(colour: np.ndarray) -> str:
    """The named background colour nearest to an RGB colour."""
    distances = np.linalg.norm(_BACKGROUND_RGB - np.asarray(colour, dtype=np.float64), axis=1)
    return _BACKGROUND_NAMES[int(distances.argmin())]


def _coverage(diff: np.ndarray, towards: np.ndarray) -> np.ndarray:
    """Blend fraction of each pixel difference (..., 3) along `towards` (3,), luma-weighted."""
    metric_towards = _METRIC @ towards
    return (diff @ metric_towards) / float(towards @ metric_towards)


def _measure(
    diff: np.ndarray,
    own: np.ndarray,
    blocked: np.ndarray,
    towards: np.ndarray,
    frame: int,
    colour: str,
    alone: bool,
) -> Detection:
    """Coverage, centroid and patch of one object given its solid pixels `own` (H, W)."""
    height, width = own.shape
    rows, cols = np.nonzero(own)
    top, left = max(int(rows.min()) - 2, 0), max(int(cols.min()) - 2, 0)
    bottom, right = min(int(rows.max()) + 3, height), min(int(cols.max()) + 3, width)
    crop = (slice(top, bottom), slice(left, right))
    region = dilate(own[crop]) & ~blocked[crop]
    alpha = np.clip(_coverage(diff[crop], towards), 0.0, 1.0) * region
    area = float(alpha.sum())
    ys, xs = np.indices(alpha.shape)
    cut = rows.min() == 0 or cols.min() == 0 or rows.max() == height - 1 or cols.max() == width - 1
    return Detection(
        frame=frame,
        colour=colour,
        area=area,
        x=float((alpha * xs).sum() / max(area, 1e-9)) + left + 0.5,
        y=float((alpha * ys).sum() / max(area, 1e-9)) + top + 0.5,
        touching=not alone,
        cut=bool(cut),
        patch=AlphaPatch(alpha=alpha, row=top, col=left, known=~blocked[crop]),
    )


def detect_objects(frames: np.ndarray, background: np.ndarray) -> list[list[Detection]]:
    """Objects in every frame of (T, H, W, 3) frames over a per-frame background (T, 3)."""
    video = np.asarray(frames, dtype=np.float64)
    count_frames, height, width, _ = video.shape
    diff = video - background[:, None, None, :]  # (T, H, W, 3)
    visible = np.linalg.norm(_OBJECT_RGB - background.mean(axis=0), axis=1) >= MIN_CONTRAST
    names = [name for name, keep in zip(OBJECT_NAMES, visible, strict=True) if keep]
    towards = _OBJECT_RGB[visible][None] - background[:, None, :]  # (T, K, 3)
    gaps = np.linalg.norm(towards, axis=2)  # (T, K)
    threshold = FOREGROUND_FRACTION * gaps.min(axis=1)
    foreground = np.linalg.norm(diff, axis=3) >= threshold[:, None, None]
    labels, count = label_components(foreground)

    # Unmix every foreground pixel against every visible colour.
    frame_of = np.nonzero(foreground)[0]
    pixels = diff[foreground]  # (N, 3)
    lines = towards[frame_of]  # (N, K, 3)
    blend = np.einsum("nc,nkc->nk", pixels, lines) / gaps[frame_of] ** 2
    residual = np.linalg.norm(pixels[:, None] - np.clip(blend, 0.0, 1.0)[..., None] * lines, axis=2)
    ranked = np.sort(residual, axis=1)
    best = residual.argmin(axis=1)
    best_blend = np.clip(blend[np.arange(len(best)), best], 0.0, 1.0)
    votes = np.where(best_blend >= SOLID_COVERAGE, best_blend, 0.0)
    # A clear vote fits its colour much better than any other: compression and colour
    # drift make pixels between two neighbouring colours, which must not split an object.
    clear = ranked[:, 0] <= CLEAR_VOTE_RATIO * ranked[:, 1]
    colour_map = np.full(foreground.shape, -1)
    colour_map[foreground] = np.where(votes > 0, best, -1)
    component_of = labels[foreground]
    mass = np.zeros((count + 1, len(names)))
    np.add.at(mass, (component_of, best), votes)
    clear_mass = np.zeros((count + 1, len(names)))
    np.add.at(clear_mass, (component_of, best), votes * clear)
    coverage = np.bincount(component_of, weights=best_blend, minlength=count + 1)

    smallest = min_object_area(height, width)
    detections: list[list[Detection]] = [[] for _ in range(count_frames)]
    component_frame = np.zeros(count + 1, dtype=int)
    component_frame[labels[foreground]] = frame_of
    for component in range(1, count + 1):
        if coverage[component] < smallest:
            continue
        frame = int(component_frame[component])
        inside = labels[frame] == component
        blocked = foreground[frame] & ~inside
        major = np.flatnonzero(clear_mass[component] >= SECOND_COLOUR_AREA * smallest)
        if len(major) <= 1:
            k = int(mass[component].argmax())
            pieces = [(k, inside, True)]
        else:  # objects of different colours touching: one object per colour (an object
            # crossed by another may show as several pieces of its colour)
            pieces = [(int(k), inside & (colour_map[frame] == k), False) for k in major]
        for k, own, alone in pieces:
            found = _measure(
                diff[frame],
                own,
                blocked | (inside & ~own),
                towards[frame, k],
                frame,
                names[k],
                alone,
            )
            if found.area >= smallest:
                detections[frame].append(found)
    return detections
