"""The encoded clip pool of a world run, kept in RUN/latent_pool.safetensors.

Encoding the pool is minutes of work at every start of the transformer stage (8192 clips of
shapes-tiny: 2–4 min on 2 cores). The file lets a resumed run skip it: the same float32
latents and captions, so a resumed run draws exactly the batches of an unbroken one. The
fingerprint holds everything the pool depends on; a file with another is encoded anew.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor

POOL_FILE = "latent_pool.safetensors"

Pool = tuple[Tensor, Tensor, list[str]]  # posterior means, log-variances, captions


def load_pool(path: Path, fingerprint: dict) -> list[Pool] | None:
    """The pools stored at `path` for this fingerprint; None if absent, foreign or unreadable."""
    if not Path(path).is_file():
        return None
    try:
        with safe_open(str(path), "pt") as handle:
            metadata = handle.metadata() or {}
        if metadata.get("fingerprint") != json.dumps(fingerprint, sort_keys=True):
            return None
        captions = json.loads(metadata["captions"])
        tensors = load_file(str(path))
        return [
            (tensors[f"mean.{i}"], tensors[f"logvar.{i}"], texts)
            for i, texts in enumerate(captions)
        ]
    except (SafetensorError, OSError, KeyError, ValueError):
        return None  # a broken file costs one re-encoding, nothing else


def save_pool(path: Path, fingerprint: dict, pools: list[Pool]) -> None:
    """Write the pools atomically: a run killed mid-write leaves no half file under `path`."""
    tensors = {}
    for i, (mean, logvar, _) in enumerate(pools):
        tensors[f"mean.{i}"] = mean.detach().cpu().contiguous()
        tensors[f"logvar.{i}"] = logvar.detach().cpu().contiguous()
    metadata = {
        "fingerprint": json.dumps(fingerprint, sort_keys=True),
        "captions": json.dumps([captions for _, _, captions in pools]),
    }
    # A file of its own per writer: every rank of a run encodes the same pool and stores it.
    handle, partial = tempfile.mkstemp(dir=Path(path).parent, suffix=".partial")
    os.close(handle)
    try:
        save_file(tensors, partial, metadata=metadata)
        os.replace(partial, path)
    finally:
        Path(partial).unlink(missing_ok=True)
