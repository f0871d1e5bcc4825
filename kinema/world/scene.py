"""The procedural world's vocabulary and its scene description: what exists, not how it looks.

Every name here is also a caption word, so the sets are small, closed and lowercase.
Colours are far apart in RGB so an evaluator can classify a blurred, drifted pixel by its
nearest named colour; background colours are kept away from every object colour.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

from kinema.errors import KinemaError

OBJECT_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (255, 135, 0),
    "yellow": (245, 235, 30),
    "green": (30, 180, 40),
    "cyan": (0, 215, 235),
    "blue": (30, 60, 235),
    "purple": (145, 40, 205),
    "pink": (255, 115, 200),
    "white": (255, 255, 255),
}

BACKGROUND_COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0),
    "gray": (115, 115, 115),
    "navy": (20, 25, 90),
    "white": (225, 225, 225),
}


# How far the frame unit may exceed the frame's shorter side: a large object at the largest
# scale (radius 0.23 · 1.4 units) still fits across it when still.
MAX_UNIT_OVER_SIDE = 1.5


def frame_unit(height: int, width: int) -> float:
    """The world's unit of length in pixels: object sizes and speeds are fractions of it.

    It is the side of the square of the frame's area, so that frames of one area (the
    buckets of a run: 32×32, 24×40, 40×24) draw a "large" or "fast" object the same in
    pixels, and a model trained on one of them draws the others' sizes right. Capped at
    MAX_UNIT_OVER_SIDE times the shorter side for very elongated frames. (Measured on the
    shapes-tiny model trained at 32×32 only: at 24×40 and 40×24 its adherence on 32 mode
    cases rose from 25% and 22% to 53% and 47% against 53% at 32×32, when the unit was the
    shorter side before.)
    """
    return min(math.sqrt(height * width), MAX_UNIT_OVER_SIDE * min(height, width))


SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star")

# Object radius as a fraction of the frame's unit (`frame_unit`). Every shape fits inside the square
# [-radius, radius]^2 around its centre, which is what "in view" and the floor refer to.
SIZES: dict[str, float] = {"small": 0.13, "medium": 0.17, "large": 0.23}
# A world may draw every object larger by one factor (`WorldConfig.object_scale`): at 32×32
# a medium star is 5 px across its points, and the 4× autoencoder turns it into a blob. The
# bound keeps a bouncing object's apex in view: 2 · 0.23 · 1.4 + BOUNCE_APEX (0.35) < 1.
MAX_OBJECT_SCALE = 1.4

_DIAGONAL = 1.0 / math.sqrt(2.0)

# Unit vectors (dx, dy) in image coordinates: x grows rightwards, y grows downwards.
DIRECTIONS: dict[str, tuple[float, float]] = {
    "left": (-1.0, 0.0),
    "right": (1.0, 0.0),
    "up": (0.0, -1.0),
    "down": (0.0, 1.0),
    "up-left": (-_DIAGONAL, -_DIAGONAL),
    "up-right": (_DIAGONAL, -_DIAGONAL),
    "down-left": (-_DIAGONAL, _DIAGONAL),
    "down-right": (_DIAGONAL, _DIAGONAL),
}

# Linear speed in frame units (`frame_unit`) per second.
SPEEDS: dict[str, float] = {"slow": 0.15, "fast": 0.3}

GRAVITY_MOTIONS: tuple[str, ...] = ("falling", "bouncing")
MOTIONS: tuple[str, ...] = ("static", *DIRECTIONS, *GRAVITY_MOTIONS)

MAX_OBJECTS = 3

# (colour, shape) pairs never drawn for training: compositional generalisation probes.
HELDOUT_PAIRS: tuple[tuple[str, str], ...] = (
    ("red", "star"),
    ("blue", "triangle"),
    ("green", "square"),
    ("yellow", "circle"),
    ("purple", "star"),
)

# (shape, motion) pairs never drawn for training, for the same purpose.
HELDOUT_SHAPE_MOTIONS: tuple[tuple[str, str], ...] = (
    ("triangle", "down-left"),
    ("circle", "up-right"),
    ("square", "bouncing"),
)


def _check_name(kind: str, value: str, allowed: Collection[str]) -> None:
    if value not in allowed:
        raise KinemaError(f"unknown {kind} {value!r}; choose one of {', '.join(allowed)}")


def check_object_scale(scale: float) -> None:
    if not (math.isfinite(scale) and 0.0 < scale <= MAX_OBJECT_SCALE):
        raise KinemaError(
            f"object scale must be in (0, {MAX_OBJECT_SCALE}] so a bounce stays in view, "
            f"got {scale}"
        )


@dataclass(frozen=True)
class WorldObject:
    """One shape. `x`, `y` are its start centre as fractions of width and height."""

    shape: str
    colour: str
    size: str
    x: float
    y: float
    motion: str
    speed: str = "slow"  # only meaningful for the eight directions
    scale: float = 1.0  # the radius is SIZES[size] · scale frame units

    def __post_init__(self) -> None:
        _check_name("shape", self.shape, SHAPES)
        _check_name("colour", self.colour, OBJECT_COLOURS)
        _check_name("size", self.size, SIZES)
        _check_name("motion", self.motion, MOTIONS)
        _check_name("speed", self.speed, SPEEDS)
        check_object_scale(self.scale)
        if not (math.isfinite(self.x) and math.isfinite(self.y)):
            raise KinemaError(f"object position must be finite, got ({self.x}, {self.y})")


@dataclass(frozen=True)
class Scene:
    """A background and one to three objects, drawn in order (later objects on top)."""

    background: str
    objects: tuple[WorldObject, ...]

    def __post_init__(self) -> None:
        _check_name("background", self.background, BACKGROUND_COLOURS)
        objects = tuple(self.objects)
        object.__setattr__(self, "objects", objects)
        if not 1 <= len(objects) <= MAX_OBJECTS:
            raise KinemaError(f"a scene has 1 to {MAX_OBJECTS} objects, got {len(objects)}")
        for obj in objects:
            if not isinstance(obj, WorldObject):
                raise KinemaError(f"scene objects must be WorldObject, got {type(obj).__name__}")
            if obj.colour == self.background:
                raise KinemaError(
                    f"a {obj.colour} object would vanish on a {obj.colour} background"
                )


def is_heldout(scene: Scene) -> bool:
    """True when any object is a held-out (colour, shape) or (shape, motion) combination."""
    return any(
        (obj.colour, obj.shape) in HELDOUT_PAIRS or (obj.shape, obj.motion) in HELDOUT_SHAPE_MOTIONS
        for obj in scene.objects
    )
