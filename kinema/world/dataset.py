"""Random scenes that stay in view, and an indexable, endless dataset of captioned clips."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from kinema.config import WorldConfig
from kinema.errors import KinemaError
from kinema.world.captions import describe
from kinema.world.motion import BOUNCE_APEX, object_centre, object_radius_px, radius_px
from kinema.world.render import render
from kinema.world.scene import (
    BACKGROUND_COLOURS,
    DIRECTIONS,
    GRAVITY_MOTIONS,
    MAX_OBJECTS,
    OBJECT_COLOURS,
    SHAPES,
    SIZES,
    SPEEDS,
    Scene,
    WorldObject,
    check_object_scale,
    frame_unit,
    is_heldout,
)

SPLITS = ("train", "heldout", "all")
# Motion families: 15% static, 65% one of eight directions, 20% gravity.
_MOTION_WEIGHTS = {"static": 0.15, **{d: 0.65 / len(DIRECTIONS) for d in DIRECTIONS}}
_MOTION_WEIGHTS.update({m: 0.20 / len(GRAVITY_MOTIONS) for m in GRAVITY_MOTIONS})
FALL_START_SPAN = 0.4  # falling objects start in the top 40% of their vertical range
PLACEMENT_TRIES = 20  # attempts at a start whose path overlaps earlier objects only briefly
# Objects may touch or cross briefly (the evaluator must cope), never hide each other long.
MAX_OVERLAP_SHARE = 0.2
REDRAWS = 8  # new size, motion and start for an object whose paths keep colliding
OVERLAP_SAMPLES = 17


def _check(cfg: WorldConfig) -> None:
    if cfg.split not in SPLITS:
        raise KinemaError(f"unknown split {cfg.split!r}; choose one of {', '.join(SPLITS)}")
    if not 1 <= cfg.min_objects <= cfg.max_objects <= MAX_OBJECTS:
        raise KinemaError(
            f"objects per scene must satisfy 1 <= min <= max <= {MAX_OBJECTS}, "
            f"got {cfg.min_objects}..{cfg.max_objects}"
        )
    check_object_scale(cfg.object_scale)
    if cfg.height < 1 or cfg.width < 1 or cfg.frames < 1 or cfg.fps <= 0:
        raise KinemaError(
            f"bad clip geometry {cfg.frames}x{cfg.height}x{cfg.width} at {cfg.fps} fps"
        )


def _start_range(lo: float, hi: float, travel: float) -> tuple[float, float]:
    """Starts in [lo, hi] whose straight path of signed length `travel` stays in [lo, hi]."""
    return lo - min(travel, 0.0), hi - max(travel, 0.0)


def _place(
    rng: random.Random, motion: str, speed: str, radius: float, cfg: WorldConfig, duration: float
) -> tuple[float, float] | None:
    """A start centre in pixels keeping the object in view for `duration`, or None."""
    x_range = (radius, cfg.width - radius)
    y_range = (radius, cfg.height - radius)
    if motion in DIRECTIONS:
        dx, dy = DIRECTIONS[motion]
        travel = SPEEDS[speed] * frame_unit(cfg.height, cfg.width) * duration
        x_range = _start_range(*x_range, dx * travel)
        y_range = _start_range(*y_range, dy * travel)
    elif motion == "falling":
        # A fall never rises above its start, so any start above the floor stays in view.
        y_range = (radius, radius + FALL_START_SPAN * (cfg.height - 2.0 * radius))
    elif motion == "bouncing":
        # Launched at or below the apex, the bounce never rises above it. In a frame lower
        # than the frame unit a large object's apex can leave the top: then it does not fit.
        floor = cfg.height - radius
        y_range = (floor - BOUNCE_APEX * cfg.height, floor)
        if y_range[0] < radius:
            return None
    if x_range[0] > x_range[1] or y_range[0] > y_range[1]:
        return None
    return rng.uniform(*x_range), rng.uniform(*y_range)


def _fit(
    rng: random.Random, motion: str, speed: str, radius: float, cfg: WorldConfig, duration: float
) -> tuple[str, str, tuple[float, float]]:
    """(motion, speed, start): too far to travel in view, slow down, then stand still."""
    for candidate in ((motion, speed), (motion, "slow"), ("static", "slow")):
        centre = _place(rng, *candidate, radius, cfg, duration)
        if centre is not None:
            return *candidate, centre
    raise AssertionError("a static object always fits: every radius is below min(H, W) / 2")


def _overlap_fraction(
    candidate: WorldObject, other: WorldObject, cfg: WorldConfig, duration: float
) -> float:
    """The share of the clip during which two objects' discs overlap."""
    times = np.linspace(0.0, duration, OVERLAP_SAMPLES)
    reach = object_radius_px(candidate, cfg.height, cfg.width) + object_radius_px(
        other, cfg.height, cfg.width
    )
    hits = 0
    for time in times:
        ax, ay = object_centre(candidate, float(time), cfg.height, cfg.width)
        bx, by = object_centre(other, float(time), cfg.height, cfg.width)
        hits += math.hypot(ax - bx, ay - by) < reach
    return hits / len(times)


def _draw_object(
    rng: random.Random, cfg: WorldConfig, duration: float, background: str, taken: list[WorldObject]
) -> WorldObject | None:
    """A new object that overlaps the earlier ones only briefly, or None if none fits."""
    used = {(other.colour, other.shape) for other in taken}
    pairs = [
        (c, s) for c in OBJECT_COLOURS if c != background for s in SHAPES if (c, s) not in used
    ]
    colour, shape = rng.choice(pairs)
    size = rng.choice(list(SIZES))
    radius = radius_px(size, cfg.object_scale, cfg.height, cfg.width)
    motion = rng.choices(list(_MOTION_WEIGHTS), weights=list(_MOTION_WEIGHTS.values()))[0]
    speed = rng.choice(list(SPEEDS)) if motion in DIRECTIONS else "slow"
    motion, speed, centre = _fit(rng, motion, speed, radius, cfg, duration)
    for _ in range(PLACEMENT_TRIES):
        x, y = centre[0] / cfg.width, centre[1] / cfg.height
        candidate = WorldObject(shape, colour, size, x, y, motion, speed, cfg.object_scale)
        overlaps = (_overlap_fraction(candidate, other, cfg, duration) for other in taken)
        if all(share <= MAX_OVERLAP_SHARE for share in overlaps):
            return candidate
        centre = _place(rng, motion, speed, radius, cfg, duration) or centre
    return None


def sample_scene(rng: random.Random, cfg: WorldConfig, duration_s: float | None = None) -> Scene:
    """A random scene whose objects stay fully in view for `duration_s` seconds.

    The duration defaults to the clip's span, (cfg.frames - 1) / cfg.fps. Scenes are redrawn
    until they match cfg.split: "train" has no held-out pair, "heldout" at least one.
    """
    _check(cfg)
    duration = (cfg.frames - 1) / cfg.fps if duration_s is None else duration_s
    if duration < 0:
        raise KinemaError(f"duration must be >= 0 seconds, got {duration}")
    while True:
        background = rng.choice(list(BACKGROUND_COLOURS))
        objects: list[WorldObject] = []
        for _ in range(rng.randint(cfg.min_objects, cfg.max_objects)):
            for _ in range(REDRAWS):
                drawn = _draw_object(rng, cfg, duration, background, objects)
                if drawn is not None:
                    break
            if drawn is not None:
                objects.append(drawn)
        if len(objects) < cfg.min_objects:
            continue
        scene = Scene(background, tuple(objects))
        if cfg.split == "all" or is_heldout(scene) == (cfg.split == "heldout"):
            return scene


@dataclass(frozen=True, eq=False)
class WorldSample:
    video: np.ndarray  # (T, H, W, 3) uint8
    caption: str
    scene: Scene


class WorldDataset:
    """Sample i is a pure function of (seed, i), so any batch can be redrawn after a resume."""

    def __init__(self, cfg: WorldConfig, seed: int = 0) -> None:
        _check(cfg)
        if seed < 0:
            raise KinemaError(f"seed must be >= 0, got {seed}")
        self.cfg = cfg
        self.seed = seed

    def _rng(self, index: int) -> random.Random:
        state = np.random.SeedSequence([self.seed, index]).generate_state(4)
        return random.Random(int.from_bytes(state.tobytes(), "little"))

    def __getitem__(self, index: int) -> WorldSample:
        if index < 0:
            raise IndexError(f"the world dataset is endless; index must be >= 0, got {index}")
        rng = self._rng(index)
        scene = sample_scene(rng, self.cfg)
        caption = describe(scene, rng)
        video = render(scene, self.cfg.height, self.cfg.width, self.cfg.frames, self.cfg.fps)
        return WorldSample(video=video, caption=caption, scene=scene)

    def __iter__(self) -> Iterator[WorldSample]:
        for index in itertools.count():
            yield self[index]

    def batch(self, start: int, size: int) -> tuple[np.ndarray, list[str], list[Scene]]:
        """Samples start .. start + size - 1 as (videos (B, T, H, W, 3) uint8, captions, scenes)."""
        if start < 0 or size < 1:
            raise KinemaError(f"a batch needs start >= 0 and size >= 1, got {start}, {size}")
        samples = [self[index] for index in range(start, start + size)]
        videos = np.stack([sample.video for sample in samples])
        return videos, [s.caption for s in samples], [s.scene for s in samples]
