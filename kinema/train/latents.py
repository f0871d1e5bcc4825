"""Where the transformer stage's latents come from: pixels through the frozen autoencoder,
or a run's latent cache (RUN/cache), which also holds frozen text embeddings.

Stage 2 reads the cache when a complete one for the run's autoencoder is there as it
starts; `kinema train` builds it first when `data.cache` is set, and `kinema data cache
RUN` builds it for a run whose transformer stage has not begun (so a run never switches
source midway, and resuming stays exact).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from kinema.autoencoder import VideoAutoencoder
from kinema.checkpoint import WEIGHT_FILES, latest_checkpoint, load_weights
from kinema.config import TrainConfig, to_dict
from kinema.data.buckets import Bucket, stage_buckets
from kinema.data.cache import LatentCache, build_cache, cache_complete, cache_items
from kinema.data.clips import load_clips
from kinema.data.plan import BatchPlan
from kinema.errors import KinemaError
from kinema.hashing import sha256_of
from kinema.pipeline import frames_to_video
from kinema.text import build_text_encoder, is_trainable
from kinema.text.memo import FrozenTextMemo, pad_tokens, split_tokens
from kinema.train.batches import (
    BatchSource,
    WorldBatches,
    batch_source,
    shape_at,
    target_fps,
    uses_clips,
)
from kinema.train.pool_file import POOL_FILE, load_pool, save_pool

CACHE_FOLDER = "cache"
STATS_OFFSET = 20_000_000  # example clips for latent statistics, far from training samples

Latents = tuple[Tensor, Tensor, list[str]]  # posterior mean, log-variance (B, C, t, h, w); captions


class LatentSource(Protocol):
    def latents(self, step: int) -> Latents: ...

    def example_latents(self, offset: int, count: int) -> Tensor:
        """Posterior means of `count` example clips as (C, N), for latent statistics."""
        ...

    def encode_text(self, text_encoder: nn.Module, captions: list[str]) -> tuple[Tensor, Tensor]:
        """(tokens (B, L, D), mask (B, L)) of the captions."""
        ...

    def sample_prompts(self, count: int) -> list[str] | None: ...


class EncodedLatents:
    """Pixels from a batch source, encoded on the fly by the frozen autoencoder."""

    def __init__(self, pixels: BatchSource, autoencoder: VideoAutoencoder, device: torch.device):
        self.pixels, self.autoencoder, self.device = pixels, autoencoder, device

    @torch.no_grad()
    def latents(self, step: int) -> Latents:
        frames, captions = self.pixels.batch(step)
        mean, logvar = self.autoencoder.encode(frames_to_video(frames, self.device))
        return mean, logvar, captions

    @torch.no_grad()
    def example_latents(self, offset: int, count: int) -> Tensor:
        frames, _ = self.pixels.examples(STATS_OFFSET + offset, count)
        mean, _ = self.autoencoder.encode(frames_to_video(frames, self.device))
        return mean.transpose(0, 1).flatten(1)  # (B, C, t, h, w) -> (C, B·t·h·w)

    def encode_text(self, text_encoder: nn.Module, captions: list[str]) -> tuple[Tensor, Tensor]:
        return text_encoder.encode(captions)

    def sample_prompts(self, count: int) -> list[str] | None:
        return self.pixels.sample_prompts(count)


class PooledWorldLatents:
    """A fixed pool of world clips per clip shape, encoded once; step s draws its shape, then
    a seeded batch from that shape's pool.

    Encoding is most of a transformer step's cost at small sizes (0.5 s of 0.7 s for a
    32×32×9 batch of 32 on one core), so a pool of many thousand clips trains faster than
    fresh clips for the same wall time. With a frozen text encoder each caption's states are
    memoised too.
    """

    def __init__(
        self,
        pixels: EncodedLatents,
        world: WorldBatches,
        size: int,
        frozen_text: bool,
        chunk: int = 64,
        store: tuple[Path, dict] | None = None,
    ) -> None:
        """`store`: a pool file and the fingerprint of this pool; the pool is read from the
        file when it matches, else encoded and written there."""
        self.pixels, self.world = pixels, world
        self.text_memo = FrozenTextMemo() if frozen_text else None
        stored = load_pool(*store) if store is not None else None
        if stored is not None:
            self.pools = [(m.to(pixels.device), v.to(pixels.device), c) for m, v, c in stored]
            return
        self.pools = []
        for index, shape in enumerate(world.shapes):
            count = max(shape.batch_size, round(size * shape.share))
            self.pools.append(self._encode(index, count, chunk))
        if store is not None:
            save_pool(*store, self.pools)

    def _encode(self, shape: int, size: int, chunk: int) -> tuple[Tensor, Tensor, list[str]]:
        means, logvars, captions = [], [], []
        for start in tqdm(range(0, size, chunk), desc="latent pool", unit="chunk", disable=None):
            count = min(chunk, size - start)
            with torch.no_grad():
                frames, texts = self.world.examples(start, count, shape)
                video = frames_to_video(frames, self.pixels.device)
                mean, logvar = self.pixels.autoencoder.encode(video)
            means.append(mean)
            logvars.append(logvar)
            captions += texts
        return torch.cat(means), torch.cat(logvars), captions

    def latents(self, step: int) -> Latents:
        shape = shape_at(self.world.shapes, self.world.seed, step)
        mean, logvar, captions = self.pools[shape]
        rng = np.random.default_rng([self.world.seed, step])
        items = rng.choice(len(captions), self.world.shapes[shape].batch_size, replace=False)
        picked = torch.from_numpy(items)
        return mean[picked], logvar[picked], [captions[i] for i in items]

    def example_latents(self, offset: int, count: int) -> Tensor:
        return self.pixels.example_latents(offset, count)

    def encode_text(self, text_encoder: nn.Module, captions: list[str]) -> tuple[Tensor, Tensor]:
        if self.text_memo is None:
            return text_encoder.encode(captions)
        return self.text_memo.encode(text_encoder, captions, self.pixels.device)

    def sample_prompts(self, count: int) -> list[str] | None:
        return self.pixels.sample_prompts(count)


class CachedLatents:
    """Latents (and frozen text states) from a complete cache, planned like decoded clips."""

    def __init__(
        self,
        cache: LatentCache,
        buckets: list[Bucket],
        image_ratio: float,
        seed: int,
        device: torch.device,
    ) -> None:
        self.cache, self.device = cache, device
        groups: dict[int, list[int]] = {}
        for item in cache.usable:
            groups.setdefault(cache.items[item].bucket, []).append(item)
        self.plan = BatchPlan(
            groups,
            {i: b.batch_size for i, b in enumerate(buckets)},
            {i for i, b in enumerate(buckets) if b.is_image},
            image_ratio,
            seed,
        )
        self.by_caption = {cache.items[i].text: i for i in cache.usable}
        self.uncached = FrozenTextMemo()  # captions not in the cache ("" for guidance)

    def latents(self, step: int) -> Latents:
        items = self.plan(step).items
        pairs = [self.cache.latent(i) for i in items]
        mean = torch.stack([m for m, _ in pairs]).to(self.device)
        logvar = torch.stack([v for _, v in pairs]).to(self.device)
        return mean, logvar, [self.cache.items[i].text for i in items]

    def example_latents(self, offset: int, count: int) -> Tensor:
        usable = self.cache.usable
        items = [usable[(offset + k) % len(usable)] for k in range(count)]
        return torch.cat([self.cache.latent(i)[0].flatten(1) for i in items], dim=1).to(self.device)

    def _states(self, text_encoder: nn.Module, caption: str) -> Tensor:
        if caption in self.by_caption:
            return self.cache.text(self.by_caption[caption])
        return self.uncached.states_of(text_encoder, [caption])[0]

    def encode_text(self, text_encoder: nn.Module, captions: list[str]) -> tuple[Tensor, Tensor]:
        if not self.cache.has_text:
            return text_encoder.encode(captions)
        tokens, mask = pad_tokens([self._states(text_encoder, c) for c in captions])
        return tokens.to(self.device), mask.to(self.device)

    def sample_prompts(self, count: int) -> list[str] | None:
        return [self.cache.items[i].text for i in self.cache.usable[:count]]


# --- the run's cache -------------------------------------------------------------------


def autoencoder_checkpoint(run: Path) -> Path:
    folder = latest_checkpoint(Path(run) / "autoencoder")
    if folder is None:
        raise KinemaError(f"'{run}' has no autoencoder checkpoint yet: train stage 1 first")
    return folder


def cache_fingerprint(cfg: TrainConfig, checkpoint: Path) -> dict:
    """Everything a cache's contents depend on; a cache with another fingerprint is refused."""
    data = to_dict(cfg.data)
    for runtime in ("workers", "prefetch", "cache", "cache_shard_size"):
        data.pop(runtime)
    index = Path(cfg.data.index)
    return {
        "autoencoder": sha256_of(checkpoint / WEIGHT_FILES["autoencoder"]),
        "index": sha256_of(index) if index.is_file() else "",
        "data": data,
        "world": [cfg.world.height, cfg.world.width, cfg.world.frames, cfg.world.fps],
        "text": None if is_trainable(cfg.model.text) else to_dict(cfg.model.text),
        "seed": cfg.seed + 1,  # the transformer stage's
    }


def latent_source(
    cfg: TrainConfig,
    run: Path,
    autoencoder: VideoAutoencoder,
    device: torch.device,
    seed: int,
    batch_size: int,
) -> LatentSource:
    """The cache if a complete one is in RUN/cache, else clips or world through the encoder."""
    folder = Path(run) / CACHE_FOLDER
    if uses_clips(cfg) and cache_complete(folder):
        fingerprint = cache_fingerprint(cfg, autoencoder_checkpoint(run))
        buckets = stage_buckets(cfg, batch_size)
        cache = LatentCache(folder, fingerprint)
        return CachedLatents(cache, buckets, cfg.data.image_ratio, seed, device)
    pixels = batch_source(cfg, seed, batch_size, cfg.transformer_stage.clip_frames)
    encoded = EncodedLatents(pixels, autoencoder, device)
    if cfg.world.latent_pool and isinstance(pixels, WorldBatches):
        frozen_text = not is_trainable(cfg.model.text)
        store = (Path(run) / POOL_FILE, pool_fingerprint(cfg, run, pixels))
        return PooledWorldLatents(encoded, pixels, cfg.world.latent_pool, frozen_text, store=store)
    return encoded


def pool_fingerprint(cfg: TrainConfig, run: Path, world: WorldBatches) -> dict:
    """Everything a world run's clip pool depends on (see kinema/train/pool_file.py)."""
    return {
        "autoencoder": sha256_of(autoencoder_checkpoint(run) / WEIGHT_FILES["autoencoder"]),
        "world": to_dict(cfg.world),
        "seed": world.seed,
        "shapes": [[shape.batch_size, shape.share] for shape in world.shapes],
        "autoencoder_config": to_dict(cfg.model.autoencoder),
    }


def build_run_cache(
    run: Path,
    cfg: TrainConfig,
    device: torch.device,
    progress: bool = True,
    after_shard: Callable[[int], None] | None = None,
) -> Path:
    """Build (or finish) RUN/cache from the run's clips and latest autoencoder checkpoint."""
    run, folder = Path(run), Path(run) / CACHE_FOLDER
    if not uses_clips(cfg):
        raise KinemaError(f"'{run}' trains on the procedural world; there are no clips to cache")
    if cache_complete(folder):
        return folder
    if latest_checkpoint(run / "transformer") is not None:
        raise KinemaError(
            f"the transformer stage of '{run}' already trains on decoded clips; a cache now "
            "would change its batches midway (start a new run with --cache)"
        )
    checkpoint = autoencoder_checkpoint(run)
    autoencoder = VideoAutoencoder(cfg.model.autoencoder)
    load_weights(checkpoint, "autoencoder", autoencoder)
    autoencoder.to(device).eval().requires_grad_(False)
    buckets = stage_buckets(cfg, cfg.transformer_stage.batch_size)
    clips = load_clips(cfg.data, buckets, target_fps(cfg))

    def encode_video(frames: np.ndarray) -> tuple[Tensor, Tensor]:
        return autoencoder.encode(frames_to_video(frames, device))

    encode_text = None
    if not is_trainable(cfg.model.text):  # a learned encoder changes as it trains: not cached
        text_encoder = build_text_encoder(cfg.model.text).to(device).eval()

        def encode_text(captions: list[str]) -> list[Tensor]:
            return split_tokens(*text_encoder.encode(captions))

    return build_cache(
        folder,
        cache_items(clips, cfg.data.cache_views, seed=cfg.seed + 1),
        clips,
        buckets,
        encode_video,
        encode_text,
        cache_fingerprint(cfg, checkpoint),
        shard_size=cfg.data.cache_shard_size,
        workers=cfg.data.workers,
        progress=progress,
        after_shard=after_shard,
    )
