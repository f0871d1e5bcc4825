"""Where a stage's pixels come from: the procedural world, or your own clips (`cfg.data`).

Either way `batch(step)` is a pure function of (seed, step), which is what makes a resumed
run draw exactly the batches the uninterrupted run draws.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from kinema.config import TrainConfig
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


class WorldBatches:
    """Step s draws world samples s·B … s·B + B - 1."""

    def __init__(self, dataset: WorldDataset, batch_size: int) -> None:
        self.dataset = dataset
        self.batch_size = batch_size

    def batch(self, step: int) -> Batch:
        return self.examples(step * self.batch_size, self.batch_size)

    def examples(self, start: int, count: int) -> Batch:
        frames, captions, _ = self.dataset.batch(start, count)
        return frames, captions

    def sample_prompts(self, count: int) -> list[str] | None:
        return None


def uses_clips(cfg: TrainConfig) -> bool:
    return bool(cfg.data.index or cfg.data.images)


def target_fps(cfg: TrainConfig) -> float:
    return cfg.data.fps or float(cfg.world.fps)


def batch_source(cfg: TrainConfig, seed: int, batch_size: int) -> BatchSource:
    """The world, or the run's clips cut to its buckets with this stage's batch sizes."""
    if not uses_clips(cfg):
        return WorldBatches(WorldDataset(cfg.world, seed=seed), batch_size)
    from kinema.data.buckets import stage_buckets
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
