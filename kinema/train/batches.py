"""Where a stage's pixels come from: the procedural world, or your own clips (`cfg.data`).

Either way `batch(step)` is a pure function of (seed, step), which is what makes a resumed
run draw exactly the batches the uninterrupted run draws.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from kinema.autoencoder import VideoAutoencoder
from kinema.config import TrainConfig, WorldConfig
from kinema.data.buckets import bucket_batch_size, stage_buckets
from kinema.errors import KinemaError
from kinema.world import WorldDataset

Batch = tuple[np.ndarray, list[str]]  # (videos (B, T, H, W, 3) uint8, captions)


class BatchSource(Protocol):
    def batch(self, step: int) -> Batch:
        """The batch of training step `step`."""
        ...

    def examples(self, start: int, count: int) -> Batch:
        """`count` clips of one shape, apart from the training order (samples, statistics)."""
        ...

    def sample_prompts(self, count: int) -> list[str] | None:
        """Prompts for sample videos; None: the world's."""
        ...


@dataclass(frozen=True)
class WorldShape:
    """One clip shape the world draws at, its batch size and its share of the steps."""

    height: int
    width: int
    frames: int
    batch_size: int
    share: float


def world_shapes(world: WorldConfig, batch_size: int) -> list[WorldShape]:
    """The world's base clip shape first, then its buckets, which share `bucket_share` of
    the steps evenly. A bucket's batch size is its own or the stage's scaled by volume."""
    extra = world.buckets
    if extra and not 0.0 < world.bucket_share < 1.0:
        raise KinemaError(f"bucket_share must be in (0, 1) with buckets, got {world.bucket_share}")
    base = WorldShape(
        world.height, world.width, world.frames, batch_size, 1.0 - world.bucket_share * bool(extra)
    )
    volume = world.height * world.width * world.frames
    shapes = [base]
    for bucket in extra:
        size = bucket_batch_size(bucket, batch_size, volume)
        share = world.bucket_share / len(extra)
        shapes.append(WorldShape(bucket.height, bucket.width, bucket.frames, size, share))
    return shapes


def shape_at(shapes: list[WorldShape], seed: int, step: int) -> int:
    """Which shape step `step` draws: seeded by (seed, step), in the shapes' shares."""
    if len(shapes) == 1:
        return 0
    shares = np.array([shape.share for shape in shapes])
    return int(np.random.default_rng([seed, step, 3]).choice(len(shapes), p=shares / shares.sum()))


def shape_dataset(world: WorldConfig, shape: WorldShape, index: int, seed: int) -> WorldDataset:
    """The world at one clip shape; every shape has a scene stream of its own."""
    geometry = replace(world, height=shape.height, width=shape.width, frames=shape.frames)
    return WorldDataset(geometry, seed=seed + 7919 * index)


class WorldBatches:
    """Step s draws a shape, then world samples s·B … s·B + B - 1 of that shape's stream."""

    def __init__(self, world: WorldConfig, seed: int, batch_size: int) -> None:
        self.seed = seed
        self.shapes = world_shapes(world, batch_size)
        self.datasets = [shape_dataset(world, s, i, seed) for i, s in enumerate(self.shapes)]
        self.batch_size = batch_size

    def batch(self, step: int) -> Batch:
        index = shape_at(self.shapes, self.seed, step)
        size = self.shapes[index].batch_size
        frames, captions, _ = self.datasets[index].batch(step * size, size)
        return frames, captions

    def examples(self, start: int, count: int, shape: int = 0) -> Batch:
        frames, captions, _ = self.datasets[shape].batch(start, count)
        return frames, captions

    def sample_prompts(self, count: int) -> list[str] | None:
        return None


def stage_world(cfg: TrainConfig, clip_frames: int) -> WorldConfig:
    """The run's world with base clips `clip_frames` long (0: as configured)."""
    if not clip_frames:
        return cfg.world
    VideoAutoencoder.latent_frames(clip_frames, "a stage's clip_frames")
    return replace(cfg.world, frames=clip_frames)


def uses_clips(cfg: TrainConfig) -> bool:
    return bool(cfg.data.index or cfg.data.images)


def target_fps(cfg: TrainConfig) -> float:
    return cfg.data.fps or float(cfg.world.fps)


def batch_source(cfg: TrainConfig, seed: int, batch_size: int, clip_frames: int = 0) -> BatchSource:
    """The world (its base clips `clip_frames` long, if not 0), or the run's clips cut to
    its buckets, with this stage's batch sizes."""
    if not uses_clips(cfg):
        return WorldBatches(stage_world(cfg, clip_frames), seed, batch_size)
    from kinema.data.clips import load_clips
    from kinema.data.loader import ClipBatches

    buckets = stage_buckets(cfg, batch_size)
    world = cfg.world
    return ClipBatches(
        load_clips(cfg.data, buckets, target_fps(cfg)),
        buckets,
        cfg.data.image_ratio,
        seed,
        workers=cfg.data.workers,
        prefetch=cfg.data.prefetch,
        base_shape=(world.height, world.width, world.frames),
    )
