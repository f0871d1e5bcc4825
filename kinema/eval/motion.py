"""Motion class and speed of a track, by fitting the world's own trajectories.

Three families are fitted to the centroid track (x(t), y(t)):
  - linear: x0 + vx t, y0 + vy t (static and the eight directions);
  - "falling": dropped from rest at an unknown height, bouncing with the world's
    restitution until it settles;
  - "bouncing": launched upwards, bouncing forever to the world's apex.
The gravity trajectories come from `kinema.world.motion.object_centre` (exact, closed
form), with a free start height and a free floor line. A gravity family wins when it
explains the track clearly better than a straight line; otherwise the fitted velocity
decides: below half the slow speed is static, its angle picks one of eight directions
(45° sectors) and its length picks slow or fast (split at the geometric mean).

"falling" (a drop that bounces to rest) and "bouncing" (an endless bounce) are both
gravity motions and are told apart, because captions name them differently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from kinema.world.motion import BOUNCE_APEX, object_centre, radius_px
from kinema.world.scene import DIRECTIONS, GRAVITY_MOTIONS, SPEEDS, WorldObject, frame_unit

STATIC_SPEED = 0.5 * SPEEDS["slow"]  # in frame units (`frame_unit`) per second
FAST_SPEED = math.sqrt(SPEEDS["slow"] * SPEEDS["fast"])
GRAVITY_WIN_RATIO = 0.5  # a gravity fit must halve the straight-line residual
MIN_GRAVITY_TRAVEL = 0.1  # of the image height: less vertical travel is not a drop
START_HEIGHTS = 97  # grid of start heights for the gravity fits, refined locally


@dataclass(frozen=True)
class MotionFit:
    """A track's motion. Residuals are RMS centroid distances in frame units."""

    motion: str
    speed: str | None  # only for the eight directions
    velocity: tuple[float, float]  # straight-line fit, image sizes per second
    residual: float  # of the chosen family's fit: the track's smoothness
    linear_residual: float
    gravity_residual: float  # of the better gravity fit: how well it obeys the physics
    gravity_motion: str  # which gravity family fitted better


def _direction(vx: float, vy: float) -> str:
    angle = math.atan2(vy, vx)
    return min(
        DIRECTIONS,
        key=lambda name: abs(
            math.remainder(angle - math.atan2(DIRECTIONS[name][1], DIRECTIONS[name][0]), math.tau)
        ),
    )


def _heights(motion: str, starts: np.ndarray, times: tuple[float, ...], height: int, width: int):
    """(len(starts), len(times)) height above the floor for each start height (pixels)."""
    floor = height - radius_px("small", 1.0, height, width)
    rows = []
    for start in starts:
        obj = WorldObject("circle", "red", "small", 0.5, (floor - start) / height, motion)
        rows.append([floor - object_centre(obj, t, height, width)[1] for t in times])
    return np.array(rows)


@lru_cache(maxsize=64)
def _height_table(motion: str, times: tuple[float, ...], height: int, width: int):
    # The world launches a bounce at or below its apex; higher, it would be a lossless fall.
    top = BOUNCE_APEX * height if motion == "bouncing" else float(height)
    starts = np.linspace(0.0, top, START_HEIGHTS)
    return starts, _heights(motion, starts, times, height, width)


def _gravity_residual(
    heights: np.ndarray, xs: np.ndarray, ys: np.ndarray, w: np.ndarray
) -> np.ndarray:
    """Weighted RMS residual (pixels) per row of `heights`, free floor line, fixed x."""
    floors = ((ys + heights) * w).sum(axis=1, keepdims=True)
    ry = ys - (floors - heights)
    rx = xs - (xs * w).sum()
    return np.sqrt((ry**2 * w).sum(axis=1) + (rx**2 * w).sum())


def _fit_gravity(
    motion: str,
    times: tuple[float, ...],
    xs: np.ndarray,
    ys: np.ndarray,
    w: np.ndarray,
    height: int,
    width: int,
) -> float:
    starts, table = _height_table(motion, times, height, width)
    residuals = _gravity_residual(table, xs, ys, w)
    best = int(residuals.argmin())
    step = starts[1] - starts[0]
    local = np.linspace(starts[best] - step, starts[best] + step, 9)
    local = local[(local >= starts[0]) & (local <= starts[-1])]
    refined = _gravity_residual(_heights(motion, local, times, height, width), xs, ys, w)
    return float(min(residuals[best], refined.min()))


def fit_motion(
    times: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    height: int,
    width: int,
    weights: np.ndarray | None = None,
) -> MotionFit:
    """Classify the motion of a track seen at `times` (seconds) at centroids (xs, ys).

    `weights` (default equal) lets less trustworthy centroids, such as those of partly
    hidden views, count for less in every fit.
    """
    times = np.asarray(times, dtype=np.float64)
    xs = np.asarray(xs, dtype=np.float64)
    ys = np.asarray(ys, dtype=np.float64)
    w = np.ones_like(times) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    scale = frame_unit(height, width)
    if len(times) < 2:
        return MotionFit("static", None, (0.0, 0.0), 0.0, 0.0, 0.0, GRAVITY_MOTIONS[0])
    design = np.stack([np.ones_like(times), times], axis=1)
    points = np.stack([xs, ys], axis=1)
    root = np.sqrt(w)[:, None]
    coeffs, *_ = np.linalg.lstsq(design * root, points * root, rcond=None)
    linear = float(np.sqrt((((design @ coeffs - points) ** 2).sum(1) * w).sum()))
    vx, vy = float(coeffs[1, 0]) / scale, float(coeffs[1, 1]) / scale
    key = tuple(float(t) for t in times)
    gravity = {m: _fit_gravity(m, key, xs, ys, w, height, width) for m in GRAVITY_MOTIONS}
    gravity_motion = min(gravity, key=gravity.get)
    gravity_residual = gravity[gravity_motion]
    travel = float(ys.max() - ys.min())
    if gravity_residual < GRAVITY_WIN_RATIO * linear and travel > MIN_GRAVITY_TRAVEL * height:
        motion, speed, residual = gravity_motion, None, gravity_residual
    else:
        residual = linear
        moving = math.hypot(vx, vy)
        if moving < STATIC_SPEED:
            motion, speed = "static", None
        else:
            motion = _direction(vx, vy)
            speed = "fast" if moving >= FAST_SPEED else "slow"
    return MotionFit(
        motion=motion,
        speed=speed,
        velocity=(vx, vy),
        residual=residual / scale,
        linear_residual=linear / scale,
        gravity_residual=gravity_residual / scale,
        gravity_motion=gravity_motion,
    )
