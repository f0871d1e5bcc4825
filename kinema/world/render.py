"""Rasterise a scene to uint8 frames with analytic anti-aliasing.

Each shape is a signed distance function in pixels (negative inside); a pixel's coverage is
clip(0.5 - distance, 0, 1), a box filter one pixel wide, and objects are alpha-blended over
the background in scene order. Everything is vectorised over (frame, row, column).
"""

from __future__ import annotations

import math

import numpy as np

from kinema.errors import KinemaError
from kinema.world.motion import object_centre, object_radius_px
from kinema.world.scene import BACKGROUND_COLOURS, OBJECT_COLOURS, Scene, WorldObject

# Shape geometry in units of the object radius; every shape fits in [-1, 1]^2.
SQUARE_HALF_SIDE = math.sqrt(math.pi) / 2.0  # same area as the circle
STAR_INNER_RATIO = 0.45  # inner/outer vertex radius; a regular pentagram has 0.382


def _triangle_vertices() -> np.ndarray:
    """Upward equilateral triangle of side 2, centred on its bounding box."""
    half_height = math.sqrt(3.0) / 2.0
    return np.array([(0.0, -half_height), (1.0, half_height), (-1.0, half_height)])


def _star_vertices() -> np.ndarray:
    """Five-pointed star, point up, scaled and shifted so its bounding box is centred."""
    angles = -math.pi / 2.0 + np.arange(10) * math.pi / 5.0
    radii = np.where(np.arange(10) % 2 == 0, 1.0, STAR_INNER_RATIO)
    points = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
    points[:, 1] -= (points[:, 1].max() + points[:, 1].min()) / 2.0
    return points / np.abs(points).max()


# Polygon shapes at radius 1, in image axes (y down).
POLYGON_VERTICES: dict[str, np.ndarray] = {
    "triangle": _triangle_vertices(),
    "star": _star_vertices(),
}


def _polygon_sdf(px: np.ndarray, py: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Exact signed distance to a simple (possibly concave) polygon; sign by crossing parity."""
    dist2 = np.full(np.broadcast_shapes(px.shape, py.shape), np.inf, dtype=np.float32)
    inside = np.zeros(dist2.shape, dtype=bool)
    points = vertices.tolist()  # Python floats keep the arithmetic in float32
    for (ax, ay), (bx, by) in zip(points, points[-1:] + points[:-1], strict=True):
        ex, ey = bx - ax, by - ay
        wx, wy = px - ax, py - ay
        along = np.clip((wx * ex + wy * ey) / (ex * ex + ey * ey), 0.0, 1.0)
        dx, dy = wx - ex * along, wy - ey * along
        np.minimum(dist2, dx * dx + dy * dy, out=dist2)
        # The edge crosses the horizontal ray from p when exactly one end is above it.
        above_a, above_b = py >= ay, py < by
        left = ex * wy > ey * wx
        inside ^= (above_a & above_b & left) | (~above_a & ~above_b & ~left)
    return np.where(inside, -1.0, 1.0) * np.sqrt(dist2)


def _shape_sdf(shape: str, px: np.ndarray, py: np.ndarray, radius: float) -> np.ndarray:
    """Signed distance in pixels from offsets (px, py) to a shape of the given radius."""
    if shape == "circle":
        return np.sqrt(px * px + py * py) - radius
    if shape == "square":
        qx = np.abs(px) - radius * SQUARE_HALF_SIDE
        qy = np.abs(py) - radius * SQUARE_HALF_SIDE
        outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
        return outside + np.minimum(np.maximum(qx, qy), 0.0)
    # Polygons are defined at radius 1; distances scale linearly with the shape.
    return _polygon_sdf(px / radius, py / radius, POLYGON_VERTICES[shape]) * radius


def _coverage(obj: WorldObject, times: np.ndarray, height: int, width: int) -> np.ndarray:
    """(T, H, W) float32 fraction of each pixel covered by the object."""
    centres = np.array([object_centre(obj, float(t), height, width) for t in times])
    cx = centres[:, 0].astype(np.float32)[:, None, None]  # (T, 1, 1)
    cy = centres[:, 1].astype(np.float32)[:, None, None]
    px = np.arange(width, dtype=np.float32)[None, None, :] + 0.5 - cx  # (T, 1, W)
    py = np.arange(height, dtype=np.float32)[None, :, None] + 0.5 - cy  # (T, H, 1)
    radius = object_radius_px(obj, height, width)
    distance = _shape_sdf(obj.shape, px, py, radius)
    return np.clip(0.5 - distance, 0.0, 1.0).astype(np.float32, copy=False)


def render(scene: Scene, height: int, width: int, frames: int, fps: int) -> np.ndarray:
    """Frames (T, H, W, 3) uint8 of the scene; frame i shows time i / fps seconds."""
    if height < 1 or width < 1 or frames < 1:
        raise KinemaError(f"cannot render {frames} frames of {height}x{width} pixels")
    if fps <= 0:
        raise KinemaError(f"fps must be positive, got {fps}")
    times = np.arange(frames) / fps
    canvas = np.empty((frames, height, width, 3), dtype=np.float32)
    canvas[:] = np.asarray(BACKGROUND_COLOURS[scene.background], dtype=np.float32)
    for obj in scene.objects:
        alpha = _coverage(obj, times, height, width)[..., None]  # (T, H, W, 1)
        colour = np.asarray(OBJECT_COLOURS[obj.colour], dtype=np.float32)
        canvas += (colour - canvas) * alpha
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
