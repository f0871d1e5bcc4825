"""A step cache (after TeaCache): skip the transformer blocks on steps where their input
barely changed, reusing the last computed change they made to the tokens.

The indicator is the first block's modulated input: the patch embedding under the
timestep's adaLN shift and scale, cheap to compute and sensitive to what the blocks see.
Its relative L1 change since the previous step accumulates; while the sum stays under
`threshold`, a step adds the cached residual (blocks' output − input) instead of running
the blocks, and the first step after the sum passes the threshold computes afresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor


@dataclass
class StepCache:
    """Per generation window: a threshold (0 computes every step) and what was seen."""

    threshold: float
    accumulated: float = 0.0
    computed: int = 0
    skipped: int = 0
    _previous: Tensor | None = field(default=None, repr=False)
    _residual: Tensor | None = field(default=None, repr=False)

    def reuse(self, indicator: Tensor) -> bool:
        """Whether this step may add the cached residual, given its indicator."""
        previous, self._previous = self._previous, indicator
        if previous is None or self._residual is None or previous.shape != indicator.shape:
            return False
        change = float((indicator - previous).abs().mean() / previous.abs().mean().clamp_min(1e-8))
        self.accumulated += change
        if self.accumulated < self.threshold:
            self.skipped += 1
            return True
        return False

    @property
    def residual(self) -> Tensor:
        if self._residual is None:
            raise RuntimeError("no residual cached yet")
        return self._residual

    def store(self, residual: Tensor) -> None:
        self._residual = residual
        self.accumulated = 0.0
        self.computed += 1
