"""Training batches of real clips, decoded by worker processes, the same for every run.

A step's batch is planned from (seed, step) alone: its bucket and clips by `BatchPlan`,
each clip's start frame from the batch's own seed. Workers only decode what the plan
names, ahead of time, so their number and timing never change a batch. A clip that fails
to decode is replaced by the next readable clip of its bucket (in a fixed order), so even
then the batch is a function of the step and the files on disk.
"""

from __future__ import annotations

import sys
import weakref
from concurrent.futures import Future

import numpy as np

from kinema.data.buckets import Bucket
from kinema.data.clips import ClipRef, ClipSet, read_clip
from kinema.data.plan import BatchPlan
from kinema.data.workers import worker_pool
from kinema.errors import KinemaError

Batch = tuple[np.ndarray, list[str]]  # (videos (B, T, H, W, 3) uint8, captions)
EXAMPLES_STREAM = 1_000_003  # seeds the fixed example clips apart from the training order


class ClipBatches:
    """`batch(step) -> (videos (B, T, H, W, 3) uint8, captions)` over a `ClipSet`."""

    def __init__(
        self,
        clips: ClipSet,
        buckets: list[Bucket],
        image_ratio: float,
        seed: int,
        workers: int = 0,
        prefetch: int = 2,
        base_shape: tuple[int, int, int] | None = None,
    ) -> None:
        self.clips = clips
        self.buckets = buckets
        self.seed = seed
        self.groups = clips.groups()
        self.plan = BatchPlan(
            self.groups,
            {i: b.batch_size for i, b in enumerate(buckets)},
            {i for i, b in enumerate(buckets) if b.is_image},
            image_ratio,
            seed,
        )
        self.base_bucket = self._base_bucket(base_shape)
        self.prefetch = prefetch if workers > 0 else 0
        self.pool = worker_pool(workers) if workers > 0 else None
        if self.pool is not None:
            weakref.finalize(self, self.pool.shutdown, wait=False, cancel_futures=True)
        self.pending: dict[int, list[Future]] = {}
        self.failed: set[int] = set()

    def _base_bucket(self, shape: tuple[int, int, int] | None) -> int:
        """Where example clips come from: the world's shape if it has clips, else the fullest."""
        for index, bucket in enumerate(self.buckets):
            if bucket.shape == shape and index in self.groups:
                return index
        return max(self.groups, key=lambda b: (not self.buckets[b].is_image, len(self.groups[b])))

    # --- planning ------------------------------------------------------------------------

    def refs(self, step: int) -> tuple[int, list[int], list[ClipRef]]:
        """(bucket, clip indices, what to decode) of a step's batch."""
        planned = self.plan(step)
        rng = np.random.default_rng(planned.seed)
        bucket = self.buckets[planned.bucket]
        starts = [int(rng.integers(0, self.clips.last_start[i] + 1)) for i in planned.items]
        refs = [self.clips.ref(i, s, bucket) for i, s in zip(planned.items, starts, strict=True)]
        return planned.bucket, list(planned.items), refs

    def example_refs(self, start: int, count: int) -> tuple[int, list[int], list[ClipRef]]:
        """`count` fixed clips of one shape, for sample videos and latent statistics."""
        rng = np.random.default_rng([self.seed, EXAMPLES_STREAM, start])
        group = self.groups[self.base_bucket]
        items = [int(i) for i in rng.choice(group, count, replace=len(group) < count)]
        bucket = self.buckets[self.base_bucket]
        starts = [int(rng.integers(0, self.clips.last_start[i] + 1)) for i in items]
        refs = [self.clips.ref(i, s, bucket) for i, s in zip(items, starts, strict=True)]
        return self.base_bucket, items, refs

    # --- decoding ------------------------------------------------------------------------

    def _submit(self, refs: list[ClipRef]) -> list[Future]:
        assert self.pool is not None
        return [self.pool.submit(read_clip, ref) for ref in refs]

    def _gather(self, bucket: int, items: list[int], outcomes: list) -> Batch:
        frames, captions = [], []
        for item, outcome in zip(items, outcomes, strict=True):
            if isinstance(outcome, Future):
                outcome = outcome.result()
            if isinstance(outcome, str):
                self._report(item, outcome)
                item, outcome = self._substitute(bucket, item)
            frames.append(outcome)
            captions.append(self.clips.clips[item].text)
        return np.stack(frames), captions

    def _report(self, item: int, why: str) -> None:
        if item not in self.failed:
            self.failed.add(item)
            print(f"kinema data: skipping {self.clips.clips[item].path}: {why}", file=sys.stderr)

    def _substitute(self, bucket: int, item: int) -> tuple[int, np.ndarray]:
        """The next readable clip of the bucket after `item`, from the middle of its frames."""
        group = self.groups[bucket]
        position = group.index(item)
        for other in group[position + 1 :] + group[:position]:
            if other in self.failed:
                continue
            ref = self.clips.ref(other, self.clips.last_start[other] // 2, self.buckets[bucket])
            outcome = read_clip(ref)
            if not isinstance(outcome, str):
                return other, outcome
            self._report(other, outcome)
        shape = "x".join(map(str, self.buckets[bucket].shape))
        raise KinemaError(f"no clip of bucket {shape} can be decoded")

    def batch(self, step: int) -> Batch:
        if self.pool is None:
            bucket, items, refs = self.refs(step)
            return self._gather(bucket, items, [read_clip(ref) for ref in refs])
        for old in [s for s in self.pending if s < step or s > step + self.prefetch]:
            for future in self.pending.pop(old):
                future.cancel()
        for ahead in range(step, step + self.prefetch + 1):
            if ahead not in self.pending:
                self.pending[ahead] = self._submit(self.refs(ahead)[2])
        bucket, items, _ = self.refs(step)
        return self._gather(bucket, items, self.pending.pop(step))

    def examples(self, start: int, count: int) -> Batch:
        bucket, items, refs = self.example_refs(start, count)
        outcomes = self._submit(refs) if self.pool else [read_clip(ref) for ref in refs]
        return self._gather(bucket, items, outcomes)

    def sample_prompts(self, count: int) -> list[str]:
        """Captions of the example clips, for sample videos."""
        _, items, _ = self.example_refs(0, count)
        return [self.clips.clips[i].text for i in items]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None
