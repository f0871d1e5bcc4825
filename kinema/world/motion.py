"""Exact kinematics of world objects, shared by the renderer and anything that checks it.

Positions are continuous pixel coordinates: the image covers [0, width] x [0, height] and
pixel (row i, column j) has its centre at (j + 0.5, i + 0.5); y grows downwards.
Everything is evaluated in closed form per flight of a bounce, so a position depends only
on the time asked for, never on a step size: clips at any fps sample one trajectory.
"""

from __future__ import annotations

import math

from kinema.errors import KinemaError
from kinema.world.scene import DIRECTIONS, SIZES, SPEEDS, WorldObject, frame_unit

GRAVITY = 2.0  # acceleration in image heights per second squared
FALL_RESTITUTION = 0.6  # fraction of speed kept at each floor contact when falling
BOUNCE_APEX = 0.35  # height of a "bouncing" object's apex above the floor, in image heights
REST_HEIGHT = 0.01  # a falling object settles once its next apex would be lower (heights)


def radius_px(size: str, scale: float, height: int, width: int) -> float:
    """Half the side of the square that contains a `size` shape drawn `scale` times the
    base size, in pixels."""
    return SIZES[size] * scale * frame_unit(height, width)


def object_radius_px(obj: WorldObject, height: int, width: int) -> float:
    """Half the side of the square that contains the object's shape, in pixels."""
    return radius_px(obj.size, obj.scale, height, width)


def floor_y_px(obj: WorldObject, height: int, width: int) -> float:
    """The centre's y when the object rests on the bottom edge of the image."""
    return height - object_radius_px(obj, height, width)


def _falling_height(h0: float, t: float, g: float, rest: float) -> float:
    """Height above the floor of a body dropped from rest at height h0."""
    if h0 <= 0.0:
        return 0.0
    first_fall = math.sqrt(2.0 * h0 / g)
    if t <= first_fall:
        return h0 - 0.5 * g * t * t
    t -= first_fall
    speed = g * first_fall
    # Each bounce keeps FALL_RESTITUTION of the speed, so this loop ends after a few flights.
    while True:
        speed *= FALL_RESTITUTION
        if speed * speed / (2.0 * g) < rest:
            return 0.0
        flight = 2.0 * speed / g
        if t <= flight:
            return speed * t - 0.5 * g * t * t
        t -= flight


def _bouncing_height(h0: float, t: float, g: float, apex: float) -> float:
    """Height above the floor of a perfectly elastic bounce, launched upwards from h0."""
    apex = max(apex, h0)
    launch = math.sqrt(2.0 * g * apex)  # speed leaving the floor
    period = 2.0 * launch / g
    # Time since the last floor contact at t = 0: the rising root of h(tau) = h0.
    since_floor = (launch - math.sqrt(max(launch * launch - 2.0 * g * h0, 0.0))) / g
    tau = math.fmod(t + since_floor, period)
    return max(launch * tau - 0.5 * g * tau * tau, 0.0)


def object_centre(obj: WorldObject, time_s: float, height: int, width: int) -> tuple[float, float]:
    """The object's centre (x, y) in pixels at `time_s` seconds after the clip starts.

    Directions move in a straight line at SPEEDS[speed] * frame_unit(height, width) px/s and pass
    through the side walls. "falling" drops from rest under gravity GRAVITY * height px/s^2
    and bounces on the floor (centre y = height - radius) with restitution
    FALL_RESTITUTION until settling. "bouncing" leaves its start moving upwards and bounces
    forever with restitution 1, reaching BOUNCE_APEX * height above the floor (or its start
    height, if that is higher). A start below the floor counts as on it.
    """
    if time_s < 0.0:
        raise KinemaError(f"time must be >= 0 seconds, got {time_s}")
    x0, y0 = obj.x * width, obj.y * height
    if obj.motion == "static":
        return x0, y0
    if obj.motion in DIRECTIONS:
        dx, dy = DIRECTIONS[obj.motion]
        step = SPEEDS[obj.speed] * frame_unit(height, width) * time_s
        return x0 + dx * step, y0 + dy * step
    floor = floor_y_px(obj, height, width)
    h0 = max(floor - y0, 0.0)
    g = GRAVITY * height
    if obj.motion == "falling":
        h = _falling_height(h0, time_s, g, REST_HEIGHT * height)
    else:
        h = _bouncing_height(h0, time_s, g, BOUNCE_APEX * height)
    return x0, floor - h
