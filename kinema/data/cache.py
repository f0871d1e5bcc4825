"""Latent caches: the autoencoder latents of a run's clips (and, for a frozen text encoder,
their caption embeddings), precomputed into sharded safetensors files.

    CACHE/cache.json                 manifest: fingerprint, shard size, items, "complete"
    CACHE/shard-00000.safetensors    items [0, S): mean.<i>, logvar.<i> (C, t, h, w) float32,
                                     text.<i> (L_i, D) when cached; metadata first, count,
                                     failed (items whose clip did not decode)

The item list (clip, start frame, bucket) is fixed before any work from the seed, and
each shard is written whole (temporary file, fsync, rename), so a builder killed at any
point resumes by building the missing shards and ends with the cache a single run builds.
No pickles anywhere: JSON for the manifest, safetensors for tensors.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor
from tqdm import tqdm

from kinema.data.buckets import Bucket
from kinema.data.clips import ClipSet, read_clip
from kinema.data.workers import worker_pool
from kinema.errors import KinemaError

MANIFEST = "cache.json"
VERSION = 1

VideoEncoder = Callable[[np.ndarray], tuple[Tensor, Tensor]]  # (B,T,H,W,3) uint8 -> mean, logvar
TextEncoder = Callable[[list[str]], list[Tensor]]  # captions -> one (L_i, D) tensor each


@dataclass(frozen=True)
class CacheItem:
    clip: int  # position in the run's ClipSet
    start: int  # first source frame
    bucket: int
    path: str  # the clip's file, for people reading the manifest
    text: str


def cache_items(clips: ClipSet, views: int, seed: int) -> list[CacheItem]:
    """`views` windows per video (one per image), their starts drawn from (seed, clip, view)."""
    items = []
    for index, clip in enumerate(clips.clips):
        for view in range(1 if clip.is_image else views):
            rng = np.random.default_rng([seed, index, view])
            start = int(rng.integers(0, clips.last_start[index] + 1))
            bucket = clips.bucket_of[index]
            items.append(CacheItem(index, start, bucket, str(clip.path), clip.text))
    return items


def shard_path(folder: Path, shard: int) -> Path:
    return Path(folder) / f"shard-{shard:05d}.safetensors"


def _manifest(fingerprint: dict[str, Any], shard_size: int, items: list[CacheItem]) -> dict:
    # Through JSON once, so that it compares equal to what is read back from disk.
    data = {"version": VERSION, "fingerprint": fingerprint, "shard_size": shard_size}
    return json.loads(json.dumps({**data, "items": [asdict(item) for item in items]}))


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    write(temporary)
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _write_json(path: Path, data: dict) -> None:
    _write_atomic(path, lambda p: p.write_text(json.dumps(data) + "\n"))


def _read_manifest(folder: Path) -> dict | None:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        raise KinemaError(f"'{path}' is not a cache manifest; delete the folder") from None


def _shard_metadata(path: Path) -> dict[str, str] | None:
    """A finished shard's metadata, or None if the file is absent or unreadable."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            return handle.metadata()
    except (SafetensorError, OSError):
        return None


def _shard_done(path: Path, first: int, count: int) -> bool:
    meta = _shard_metadata(path)
    return meta is not None and meta.get("first") == str(first) and meta.get("count") == str(count)


@torch.no_grad()
def _encode_shard(
    items: list[CacheItem],
    first: int,
    clips: ClipSet,
    buckets: list[Bucket],
    encode_video: VideoEncoder,
    encode_text: TextEncoder | None,
    batch_size: int,
    pool: Any,
) -> tuple[dict[str, Tensor], list[int]]:
    refs = [clips.ref(item.clip, item.start, buckets[item.bucket]) for item in items]
    decoded = list(pool.map(read_clip, refs)) if pool else [read_clip(ref) for ref in refs]
    failed = [first + i for i, outcome in enumerate(decoded) if isinstance(outcome, str)]
    tensors: dict[str, Tensor] = {}
    by_bucket: dict[int, list[int]] = {}
    for i, item in enumerate(items):
        if not isinstance(decoded[i], str):
            by_bucket.setdefault(item.bucket, []).append(i)
    for members in by_bucket.values():  # a fixed grouping: the same numbers on every build
        for at in range(0, len(members), batch_size):
            chunk = members[at : at + batch_size]
            mean, logvar = encode_video(np.stack([decoded[i] for i in chunk]))
            for row, i in enumerate(chunk):
                tensors[f"mean.{first + i}"] = mean[row].float().cpu().clone()
                tensors[f"logvar.{first + i}"] = logvar[row].float().cpu().clone()
    if encode_text is not None:
        kept = [i for i in range(len(items)) if first + i not in failed]
        for at in range(0, len(kept), batch_size):
            chunk = kept[at : at + batch_size]
            for i, tokens in zip(chunk, encode_text([items[i].text for i in chunk]), strict=True):
                tensors[f"text.{first + i}"] = tokens.float().cpu().contiguous().clone()
    return tensors, failed


def build_cache(
    folder: Path,
    items: list[CacheItem],
    clips: ClipSet,
    buckets: list[Bucket],
    encode_video: VideoEncoder,
    encode_text: TextEncoder | None,
    fingerprint: dict[str, Any],
    shard_size: int = 256,
    batch_size: int = 8,
    workers: int = 0,
    progress: bool = True,
    after_shard: Callable[[int], None] | None = None,
) -> Path:
    """Build the cache in `folder`, or finish one an interrupted build left there."""
    folder = Path(folder)
    if shard_size < 1:
        raise KinemaError(f"shard size must be at least 1, got {shard_size}")
    manifest = _manifest(fingerprint, shard_size, items)
    existing = _read_manifest(folder)
    if existing is not None:
        if {k: v for k, v in existing.items() if k != "complete"} != manifest:
            raise KinemaError(
                f"'{folder}' holds a cache of other clips or other weights; delete it to rebuild"
            )
        if existing.get("complete"):
            return folder
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(folder / MANIFEST, {**manifest, "complete": False})
    shards = range(0, len(items), shard_size)
    pool = worker_pool(workers) if workers > 0 else None
    bar = tqdm(total=len(items), desc="cache", unit="clip", disable=not progress)
    try:
        for number, first in enumerate(shards):
            chunk = items[first : first + shard_size]
            path = shard_path(folder, number)
            if not _shard_done(path, first, len(chunk)):
                tensors, failed = _encode_shard(
                    chunk, first, clips, buckets, encode_video, encode_text, batch_size, pool
                )
                meta = {"first": str(first), "count": str(len(chunk)), "failed": json.dumps(failed)}
                _write_atomic(path, lambda p, t=tensors, m=meta: save_file(t, str(p), metadata=m))
                if after_shard is not None:
                    after_shard(number)
            bar.update(len(chunk))
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown()
    _write_json(folder / MANIFEST, {**manifest, "complete": True})
    return folder


def cache_complete(folder: Path) -> bool:
    manifest = _read_manifest(folder)
    return bool(manifest and manifest.get("complete"))


class LatentCache:
    """A complete cache, read lazily (memory-mapped) shard by shard."""

    def __init__(self, folder: Path, fingerprint: dict[str, Any]) -> None:
        self.folder = Path(folder)
        manifest = _read_manifest(self.folder)
        if manifest is None or not manifest.get("complete"):
            raise KinemaError(f"'{self.folder}' holds no complete latent cache")
        if manifest["fingerprint"] != json.loads(json.dumps(fingerprint)):
            raise KinemaError(
                f"the cache in '{self.folder}' was built from other clips or other weights; "
                "delete it and build it again (kinema data cache)"
            )
        self.items = [CacheItem(**item) for item in manifest["items"]]
        self.shard_size = int(manifest["shard_size"])
        self._handles: dict[int, Any] = {}
        failed: set[int] = set()
        for shard in range(0, max(1, -(-len(self.items) // self.shard_size))):
            meta = _shard_metadata(shard_path(self.folder, shard))
            if meta is None and self.items:
                raise KinemaError(f"cache shard {shard} in '{self.folder}' is missing or damaged")
            failed |= set(json.loads(meta["failed"])) if meta else set()
        self.usable = [i for i in range(len(self.items)) if i not in failed]
        if not self.usable:
            raise KinemaError(f"the cache in '{self.folder}' holds no latents")
        first = self.usable[0]
        self.has_text = f"text.{first}" in set(self._shard(first).keys())

    def _shard(self, item: int) -> Any:
        shard = item // self.shard_size
        if shard not in self._handles:
            self._handles[shard] = safe_open(str(shard_path(self.folder, shard)), framework="pt")
        return self._handles[shard]

    def latent(self, item: int) -> tuple[Tensor, Tensor]:
        """Posterior mean and log-variance of one item, (C, t, h, w) each."""
        handle = self._shard(item)
        return handle.get_tensor(f"mean.{item}"), handle.get_tensor(f"logvar.{item}")

    def text(self, item: int) -> Tensor:
        """The caption's token states (L, D), where the cache holds them."""
        return self._shard(item).get_tensor(f"text.{item}")
