"""Which rows of a step's global batch one forward pass computes.

A step's batch (and every random draw made for it) is a pure function of (seed, step). A
loss function draws all of it for the whole global batch, then keeps its shard's rows, so
one process, two ranks, or two ranks with two micro-batches each all see the same samples
with the same noise: the split changes how the work is spread, never what is computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from kinema.errors import KinemaError

Rows = TypeVar("Rows")  # a tensor, an array or a list, cut along its first dimension


@dataclass(frozen=True)
class BatchShard:
    """Part `index` of `count` equal, contiguous parts of a step's global batch."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index} of {self.count} does not exist")

    def rows(self, batch_size: int) -> slice:
        """The rows of this part of a batch of `batch_size` rows."""
        if batch_size % self.count:
            raise KinemaError(
                f"a batch of {batch_size} samples cannot be split into {self.count} equal parts "
                "(data-parallel ranks × gradient accumulation); choose batch sizes divisible "
                f"by {self.count}"
            )
        size = batch_size // self.count
        return slice(self.index * size, (self.index + 1) * size)

    def take(self, batch: Rows) -> Rows:
        """This part's rows of `batch` (dimension 0)."""
        return batch[self.rows(len(batch))]  # type: ignore[index]


WHOLE_BATCH = BatchShard()
