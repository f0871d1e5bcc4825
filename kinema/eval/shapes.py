"""Shape and size classes of a detected object, by matching the world's own shape masks.

Every detection carries a soft coverage map ("alpha"). For each shape we place the
renderer's anti-aliased mask with the same area and centroid, optionally blurred (a
generated or compressed video is softer than a render), and keep the shape with the
smallest squared difference. Summed over a track's frames this separates the four
shapes even for the smallest objects at 32×32, where corner or fill-ratio descriptors
become unreliable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise

import numpy as np

from kinema.world.render import POLYGON_VERTICES, SQUARE_HALF_SIDE, _shape_sdf
from kinema.world.scene import SHAPES, SIZES, frame_unit

# Gaussian blurs (pixels) tried for every template; the best fitting one is kept.
TEMPLATE_BLURS: tuple[float, ...] = (0.0, 0.6, 1.0, 1.4)


@dataclass(frozen=True, eq=False)
class AlphaPatch:
    """Coverage in [0, 1] of one object on a crop whose top-left pixel is (row, col).

    `known` is False where another object covers the crop, so this one may be hidden there.
    """

    alpha: np.ndarray = field(repr=False)  # (h, w) float
    row: int
    col: int
    known: np.ndarray | None = field(default=None, repr=False)  # (h, w) bool

    @property
    def hidden(self) -> bool:
        return self.known is not None and not bool(self.known.all())


def _polygon_area_centroid(vertices: np.ndarray) -> tuple[float, float]:
    """Shoelace area and centroid y of a simple polygon."""
    x, y = vertices[:, 0], vertices[:, 1]
    xn, yn = np.roll(x, -1), np.roll(y, -1)
    cross = x * yn - xn * y
    area = float(cross.sum()) / 2.0
    return abs(area), float(((y + yn) * cross).sum()) / (6.0 * area)


def _unit_shapes() -> dict[str, tuple[float, float]]:
    """Per shape: (area, centroid y below the centre), both for radius 1."""
    square = (2.0 * SQUARE_HALF_SIDE) ** 2
    units = {"circle": (math.pi, 0.0), "square": (square, 0.0)}
    for name, vertices in POLYGON_VERTICES.items():
        units[name] = _polygon_area_centroid(vertices)
    return units


UNIT_SHAPES: dict[str, tuple[float, float]] = _unit_shapes()

# Size classes are split halfway between neighbouring radii on a log scale.
_SIZE_ORDER = sorted(SIZES, key=SIZES.get)
_SIZE_BOUNDS = [math.sqrt(SIZES[a] * SIZES[b]) for a, b in pairwise(_SIZE_ORDER)]


def radius_from_area(area: float, shape: str) -> float:
    """The world radius (half the bounding square) of a `shape` covering `area` pixels."""
    return math.sqrt(max(area, 0.0) / UNIT_SHAPES[shape][0])


def size_class(area: float, shape: str, height: int, width: int, object_scale: float = 1.0) -> str:
    """The nearest size class for an object of `shape` covering `area` pixels, in a world
    that draws objects `object_scale` times the base sizes."""
    relative = radius_from_area(area, shape) / (frame_unit(height, width) * object_scale)
    for name, bound in zip(_SIZE_ORDER, _SIZE_BOUNDS, strict=False):  # the last has no bound
        if relative < bound:
            return name
    return _SIZE_ORDER[-1]


@lru_cache(maxsize=256)
def _blur_matrix(size: int, sigma: float) -> np.ndarray:
    """(size, size) Gaussian blur along one axis, renormalised at the edges."""
    offsets = np.arange(size)[:, None] - np.arange(size)[None, :]
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    return weights / weights.sum(axis=1, keepdims=True)


def _template(shape: str, patch: AlphaPatch, cx, cy, radius: float) -> np.ndarray:
    """The renderer's coverage of `shape` with centroid (cx, cy) on the patch's pixels:
    (h, w) for scalar centres, (N, h, w) for arrays of N centres."""
    h, w = patch.alpha.shape
    cx = np.asarray(cx, dtype=np.float32)[..., None, None]
    centre_y = np.asarray(cy, dtype=np.float32)[..., None, None] - UNIT_SHAPES[shape][1] * radius
    px = np.arange(w, dtype=np.float32)[None, :] + (patch.col + 0.5) - cx  # (..., 1, w)
    py = np.arange(h, dtype=np.float32)[:, None] + (patch.row + 0.5) - centre_y  # (..., h, 1)
    distance = _shape_sdf(shape, px, py, radius)
    return np.clip(0.5 - distance, 0.0, 1.0)


def shape_errors(patch: AlphaPatch) -> dict[str, float]:
    """Per shape, the relative squared error of its best-blurred template against the patch."""
    alpha = patch.alpha
    area = float(alpha.sum())
    if area <= 0.0:
        return dict.fromkeys(SHAPES, 1.0)
    rows, cols = np.indices(alpha.shape)
    cy = float((alpha * rows).sum() / area) + patch.row + 0.5
    cx = float((alpha * cols).sum() / area) + patch.col + 0.5
    energy = float((alpha * alpha).sum())
    errors = {}
    for shape in SHAPES:
        template = _template(shape, patch, cx, cy, radius_from_area(area, shape))
        best = math.inf
        for sigma in TEMPLATE_BLURS:
            if sigma > 0.0:
                h, w = alpha.shape
                blurred = _blur_matrix(h, sigma) @ template @ _blur_matrix(w, sigma).T
            else:
                blurred = template
            best = min(best, float(((alpha - blurred) ** 2).sum()))
        errors[shape] = best / energy
    return errors


def classify_shape(patches: Sequence[AlphaPatch]) -> tuple[str, dict[str, float]]:
    """The shape whose templates fit the patches best overall, and the mean errors."""
    if not patches:
        return SHAPES[0], dict.fromkeys(SHAPES, 1.0)
    totals = dict.fromkeys(SHAPES, 0.0)
    for patch in patches:
        for shape, error in shape_errors(patch).items():
            totals[shape] += error / len(patches)
    return min(totals, key=totals.get), totals


# Coarse-to-fine search for the centroid of a partly hidden object (pixels).
_CENTRE_STEPS = (2.0, 1.0, 0.5, 0.25)
_MOVES = np.array([(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if dx or dy], float)
_MAX_MOVES = 4  # per step size: the start is the visible centroid, rarely far off
# Radii tried, relative to the radius of the visible area, when the radius is unknown.
HIDDEN_RADII = (1.0, 1.2, 1.45, 1.75)


def fit_hidden(
    patch: AlphaPatch, shape: str, radius: float | None = None
) -> tuple[float, float, float, float]:
    """(cx, cy, radius, error) of the mask of `shape` best matching a partly hidden view.

    Pixels another object covers are left out of the error, and the centroid (and, when
    `radius` is None, the radius) is searched, since the visible part's centroid and area
    are biased towards what is left uncovered.
    """
    alpha = patch.alpha
    known = np.ones(alpha.shape, dtype=bool) if patch.known is None else patch.known
    area = float(alpha.sum())
    if area <= 0.0:
        return math.nan, math.nan, 0.0, 1.0
    rows, cols = np.indices(alpha.shape)
    start_y = float((alpha * rows).sum() / area) + patch.row + 0.5
    start_x = float((alpha * cols).sum() / area) + patch.col + 0.5
    energy = float((alpha * alpha * known).sum()) or 1.0
    visible = radius_from_area(area, shape)
    radii = [radius] if radius is not None else [visible * k for k in HIDDEN_RADII]

    def errors(cx: np.ndarray, cy: np.ndarray, r: float) -> np.ndarray:
        templates = _template(shape, patch, cx, cy, r)  # (N, h, w)
        return (((alpha - templates) ** 2) * known).sum(axis=(1, 2)) / energy

    best = (start_x, start_y, radii[0], math.inf)
    for r in radii:
        cx, cy = start_x, start_y
        current = float(errors(np.array([cx]), np.array([cy]), r)[0])
        for step in _CENTRE_STEPS:
            for _ in range(_MAX_MOVES):  # move to the best of the 8 neighbours while it helps
                trials = errors(cx + step * _MOVES[:, 0], cy + step * _MOVES[:, 1], r)
                k = int(trials.argmin())
                if trials[k] >= current:
                    break
                cx, cy, current = (
                    cx + step * _MOVES[k, 0],
                    cy + step * _MOVES[k, 1],
                    float(trials[k]),
                )
        if current < best[3]:
            best = (cx, cy, r, current)
    return best
