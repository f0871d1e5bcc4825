"""Which items make up each training step's batch: a pure function of (seed, step).

Items (clips, or cached latents) are grouped by bucket. Video and image buckets form two
streams; steps are given to the image stream at a fixed ratio by an exact interleave (step
s is an image step when floor((s + 1)·r) > floor(s·r)), so the position in each stream is
known in O(1). A stream is cut into epochs: each epoch shuffles every bucket's items, cuts
them into full batches (wrapping around the bucket's shuffled items) and shuffles the
batches. Every item is seen once per epoch, and any step can be planned without the ones
before it: a resumed or prefetching loader draws exactly the same batches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

VIDEO, IMAGE = 0, 1


@dataclass(frozen=True)
class PlannedBatch:
    bucket: int
    items: tuple[int, ...]
    seed: int  # for the batch's own draws (clip starts), independent of other batches


class BatchPlan:
    def __init__(
        self,
        groups: dict[int, list[int]],
        batch_sizes: dict[int, int],
        image_buckets: set[int],
        image_ratio: float,
        seed: int,
    ) -> None:
        """groups: bucket -> its items (any ints); buckets without items are left out."""
        self.groups = {b: sorted(items) for b, items in groups.items() if items}
        if not self.groups:
            raise ValueError("a batch plan needs at least one item")
        self.batch_sizes = batch_sizes
        self.seed = seed
        self.streams = {
            stream: sorted(b for b in self.groups if (b in image_buckets) == (stream == IMAGE))
            for stream in (VIDEO, IMAGE)
        }
        if not self.streams[IMAGE]:
            image_ratio = 0.0
        elif not self.streams[VIDEO]:
            image_ratio = 1.0
        self.image_ratio = image_ratio
        self._schedule = lru_cache(maxsize=4)(self._epoch_schedule)

    def _epoch_schedule(self, stream: int, epoch: int) -> list[tuple[int, tuple[int, ...]]]:
        rng = np.random.default_rng([self.seed, stream, epoch])
        batches = []
        for bucket in self.streams[stream]:
            order = rng.permutation(self.groups[bucket])
            size = self.batch_sizes[bucket]
            count = math.ceil(len(order) / size)
            wrapped = np.resize(order, count * size)  # repeats the shuffled items cyclically
            batches += [
                (bucket, tuple(int(i) for i in wrapped[j * size : (j + 1) * size]))
                for j in range(count)
            ]
        return [batches[i] for i in rng.permutation(len(batches))]

    def _stream_position(self, step: int) -> tuple[int, int]:
        images_before = math.floor(step * self.image_ratio)
        if math.floor((step + 1) * self.image_ratio) > images_before:
            return IMAGE, images_before
        return VIDEO, step - images_before

    def __call__(self, step: int) -> PlannedBatch:
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        stream, position = self._stream_position(step)
        epoch_length = len(self._schedule(stream, 0))  # the same for every epoch
        epoch, slot = divmod(position, epoch_length)
        bucket, items = self._schedule(stream, epoch)[slot]
        seed = int(np.random.SeedSequence([self.seed, stream, epoch, slot]).generate_state(1)[0])
        return PlannedBatch(bucket, items, seed)
