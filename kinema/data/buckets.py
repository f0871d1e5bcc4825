"""Buckets: the clip shapes (height, width, frames) real clips are cut to, one shape per batch.

A clip goes to the bucket nearest its aspect ratio, then the largest resolution it does not
need enlarging for, then the most frames it holds at the target frame rate. Images go to
one-frame buckets. Each bucket has its own batch size, by default the stage's batch size
scaled by how much smaller or larger its clips are than the world's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kinema.autoencoder import VideoAutoencoder
from kinema.config import BucketConfig, ModelConfig, TrainConfig
from kinema.errors import KinemaError

# Width : height ratios of the default buckets, all at the world clip's pixel area.
DEFAULT_ASPECTS = ((1, 1), (16, 9), (9, 16), (4, 3), (3, 4))


@dataclass(frozen=True)
class Bucket:
    height: int
    width: int
    frames: int
    batch_size: int

    @property
    def is_image(self) -> bool:
        return self.frames == 1

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.height, self.width, self.frames


def spatial_multiples(model: ModelConfig) -> tuple[int, int]:
    """Height and width must be multiples of these: spatial compression × patch size."""
    s, patch = model.autoencoder.spatial_compression, model.transformer.patch_size
    return s * patch[1], s * patch[2]


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, round(value / multiple) * multiple)


def default_buckets(height: int, width: int, frames: int, model: ModelConfig) -> list[BucketConfig]:
    """Common aspect ratios at the world clip's area, at its length and half it, plus images."""
    mh, mw = spatial_multiples(model)
    area = height * width
    sizes: list[tuple[int, int]] = []
    for aspect_w, aspect_h in DEFAULT_ASPECTS:
        size = (
            _round_to(math.sqrt(area * aspect_h / aspect_w), mh),
            _round_to(math.sqrt(area * aspect_w / aspect_h), mw),
        )
        if size not in sizes:
            sizes.append(size)
    temporal = model.autoencoder.temporal_compression
    lengths = [frames]
    half = 1 + (frames - 1) // (2 * temporal) * temporal
    if half > 1 and half != frames:
        lengths.append(half)
    return [BucketConfig(h, w, t) for t in [*lengths, 1] for h, w in sizes]


def check_bucket(bucket: BucketConfig, model: ModelConfig) -> None:
    mh, mw = spatial_multiples(model)
    patch_t = model.transformer.patch_size[0]
    shape = f"bucket {bucket.height}x{bucket.width}x{bucket.frames}"
    if bucket.height < mh or bucket.height % mh or bucket.width < mw or bucket.width % mw:
        raise KinemaError(f"{shape}: height and width must be positive multiples of {mh}, {mw}")
    latent_frames = VideoAutoencoder.latent_frames(bucket.frames, shape)
    if latent_frames % patch_t:
        raise KinemaError(f"{shape}: latent frames must divide by the temporal patch {patch_t}")
    if bucket.batch_size < 0:
        raise KinemaError(f"{shape}: batch_size must be >= 0 (0 scales the stage's)")


def stage_buckets(cfg: TrainConfig, batch_size: int) -> list[Bucket]:
    """The run's buckets with batch sizes resolved for a stage of `batch_size`."""
    world = cfg.world
    configs = cfg.data.buckets or tuple(
        default_buckets(world.height, world.width, world.frames, cfg.model)
    )
    buckets = []
    for config in configs:
        check_bucket(config, cfg.model)
        size = bucket_batch_size(config, batch_size, world.height * world.width * world.frames)
        buckets.append(Bucket(config.height, config.width, config.frames, size))
    return buckets


def bucket_batch_size(bucket: BucketConfig, batch_size: int, volume: int) -> int:
    """The bucket's own batch size, or the stage's scaled by how many pixels × frames a clip
    of the base shape (`volume`) holds against one of this bucket."""
    clip = bucket.height * bucket.width * bucket.frames
    return bucket.batch_size or max(1, round(batch_size * volume / clip))


def assign_bucket(
    height: int, width: int, frames_available: int, image: bool, buckets: list[Bucket]
) -> int | None:
    """Index of the bucket a clip of this size and length goes to, or None if none fits."""
    candidates = [
        i
        for i, b in enumerate(buckets)
        if b.is_image == image and b.frames <= max(1, frames_available)
    ]
    if not candidates:
        return None
    aspect = math.log(width / height)
    area = height * width

    def preference(i: int) -> tuple:
        b = buckets[i]
        mismatch = round(abs(aspect - math.log(b.width / b.height)), 6)
        enlarges = b.height * b.width > area
        size_rank = b.height * b.width if enlarges else -b.height * b.width
        return mismatch, enlarges, size_rank, -b.frames, i

    return min(candidates, key=preference)
