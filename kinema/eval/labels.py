"""Connected components and dilation of boolean masks in plain numpy.

Frames here are tiny (32×32 to 64×64), so a vectorised label propagation with pointer
jumping is fast enough and avoids a SciPy dependency for one function.
"""

from __future__ import annotations

import numpy as np

# The eight neighbours and the pixel itself, as (row, column) offsets.
_NEIGHBOURS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]


def _shifted(values: np.ndarray, fill: int | bool) -> list[np.ndarray]:
    """`values` (..., H, W) shifted by every 8-neighbourhood offset, padded with `fill`."""
    padded = np.pad(values, [(0, 0)] * (values.ndim - 2) + [(1, 1), (1, 1)], constant_values=fill)
    h, w = values.shape[-2:]
    return [padded[..., 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy, dx in _NEIGHBOURS]


def dilate(mask: np.ndarray, steps: int = 1) -> np.ndarray:
    """Grow a boolean mask (..., H, W) by `steps` pixels in the 8-neighbourhood."""
    for _ in range(steps):
        mask = np.logical_or.reduce(_shifted(mask, False))
    return mask


def label_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected components of a boolean mask (..., H, W), separately per leading index.

    Returns (labels, count): labels are 0 for background and 1..count for components,
    numbered in raster order of each component's first pixel.
    """
    mask = np.asarray(mask, dtype=bool)
    outside = mask.size  # larger than every pixel index
    index = np.arange(mask.size).reshape(mask.shape)
    labels = np.where(mask, index, outside)
    while True:
        smallest = np.minimum.reduce(_shifted(labels, outside))
        smallest = np.where(mask, smallest, outside)
        # Pointer jumping: a pixel takes the label of the pixel its label points at.
        flat = np.append(smallest.ravel(), outside)
        for _ in range(2):
            flat[:-1] = flat[flat[:-1]]
        updated = flat[:-1].reshape(mask.shape)
        if np.array_equal(updated, labels):
            break
        labels = updated
    roots, dense = np.unique(labels, return_inverse=True)
    dense = dense.reshape(mask.shape)
    # `outside` sorts last, so components are 0..n-1 and the background is n.
    count = len(roots) - (1 if roots[-1] == outside else 0)
    return np.where(mask, dense + 1, 0), count
