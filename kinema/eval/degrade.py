"""Controlled damage to clean renders: blur, colour drift, noise and JPEG compression.

Used to show that the analyzer still reads a scene when frames look like a generator's
or a codec's output rather than the renderer's.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from kinema.errors import KinemaError


@dataclass(frozen=True)
class Degradation:
    """Applied in this order: blur, colour jitter, noise, JPEG round trip."""

    blur: float = 0.0  # Gaussian sigma, pixels
    jitter: float = 0.0  # per-channel gain within 1 ± jitter, offset within ± 128 · jitter
    noise: float = 0.0  # standard deviation of additive Gaussian noise, 0..255 scale
    jpeg_quality: int | None = None  # Pillow JPEG quality (4:2:0 chroma), None: no JPEG

    def __post_init__(self) -> None:
        if self.blur < 0 or self.jitter < 0 or self.noise < 0:
            raise KinemaError(f"degradation strengths must be >= 0, got {self}")
        if self.jpeg_quality is not None and not 1 <= self.jpeg_quality <= 95:
            raise KinemaError(f"JPEG quality must be in 1..95, got {self.jpeg_quality}")


def _jpeg(frame: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as image:
        return np.asarray(image.convert("RGB"))


def degrade(frames: np.ndarray, damage: Degradation, rng: np.random.Generator) -> np.ndarray:
    """A damaged copy of (T, H, W, 3) uint8 frames. The colour jitter is one random
    per-channel gain and offset for the clip that drifts by up to half as much again over
    its frames, like a generator whose colours wander."""
    video = np.asarray(frames, dtype=np.uint8)
    count = len(video)
    if damage.blur > 0:
        blur = ImageFilter.GaussianBlur(damage.blur)
        video = np.stack([np.asarray(Image.fromarray(f).filter(blur)) for f in video])
    out = video.astype(np.float64)
    if damage.jitter > 0:
        gain = 1.0 + rng.uniform(-damage.jitter, damage.jitter, 3)
        offset = rng.uniform(-128 * damage.jitter, 128 * damage.jitter, 3)
        drift = rng.uniform(-damage.jitter / 2, damage.jitter / 2, 3)
        ramp = np.linspace(0.0, 1.0, count)[:, None]  # (T, 1)
        gains = (gain + ramp * drift)[:, None, None, :]  # (T, 1, 1, 3)
        out = out * gains + offset
    if damage.noise > 0:
        out = out + rng.normal(0.0, damage.noise, out.shape)
    video = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    if damage.jpeg_quality is not None:
        video = np.stack([_jpeg(f, damage.jpeg_quality) for f in video])
    return video
