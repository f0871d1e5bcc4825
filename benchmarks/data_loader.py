"""Real-clip data pipeline numbers: loader throughput against training, autoencoder PSNR.

    python benchmarks/data_loader.py [--clips 48] [--autoencoder-steps 200] [--threads 2]
                                     [--workers 2] [--json out.json]

Builds a lavfi corpus (testsrc2, mandelbrot, life at 128x128 … 192x108, 24–30 fps, 3–4 s),
plus held-out clips from other seeds, sizes and rates. The run's geometry is one 64x64
bucket of 17 frames at 8 fps with the `shapes-64` preset's model (autoencoder ×8 spatial,
8 latent channels; its transformer; the frozen MiniLM text encoder, so the cache holds the
captions' embeddings too). It trains the autoencoder for --autoencoder-steps on the
corpus, reports held-out PSNR, builds the latent cache, then times, in clips (samples) per second:

- decoding clips (PyAV seek + decode + resize + crop), inline and with worker processes;
- decoding and encoding them through the autoencoder (stage 2 without a cache);
- reading latents from the cache (stage 2 with it);
- one whole transformer training step, with and without the cache (its consumption).

Prints one table; --json writes the same numbers.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from results_table import print_results  # benchmarks/, beside this script

from kinema.autoencoder import VideoAutoencoder, psnr
from kinema.checkpoint import load_weights
from kinema.config import (
    BucketConfig,
    DataConfig,
    StageConfig,
    TrainConfig,
)
from kinema.data.lavfi import LavfiClip, write_lavfi_clip
from kinema.data.scan import scan
from kinema.pipeline import frames_to_video
from kinema.presets import get_preset
from kinema.train.autoencoder_stage import autoencoder_stage
from kinema.train.batches import batch_source
from kinema.train.latents import (
    CACHE_FOLDER,
    EncodedLatents,
    autoencoder_checkpoint,
    build_run_cache,
    latent_source,
)
from kinema.train.metrics import MetricsLog
from kinema.train.run import METRICS_FILE, prepare_run
from kinema.train.transformer_stage import transformer_stage

SIZES = [(128, 128), (160, 120), (192, 108), (108, 192), (144, 144)]
RATES = [24, 25, 30]
CPU = torch.device("cpu")


def corpus(folder: Path, count: int, seed: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        source = ("testsrc2", "mandelbrot", "life")[i % 3]
        width, height = SIZES[int(rng.integers(len(SIZES)))]
        fps = RATES[int(rng.integers(len(RATES)))]
        frames = round(float(rng.uniform(3.0, 4.0)) * fps)
        clip = LavfiClip(f"{source}-{seed}-{i:03d}", source, width, height, fps, frames, source)
        write_lavfi_clip(clip, folder).with_suffix(".txt").write_text(f"a {source} pattern")
    _, index = scan(folder, progress=False)
    return index


def config(index: Path, autoencoder_steps: int, workers: int) -> TrainConfig:
    """The shapes-64 preset's model on one 64x64 bucket of 17 frames at 8 fps."""
    preset = get_preset("shapes-64")
    return replace(
        preset,
        name="data-64",
        world=replace(preset.world, buckets=(), bucket_share=0.0, latent_pool=0),
        autoencoder_stage=StageConfig(
            steps=autoencoder_steps,
            batch_size=4,
            lr=1e-3,
            warmup_steps=20,
            log_every=25,
            checkpoint_every=10**9,
        ),
        transformer_stage=StageConfig(steps=10**9, batch_size=16, warmup_steps=1),
        # One 64x64 bucket: every clip is cut to the measured shape, every batch full size.
        data=DataConfig(index=str(index), workers=workers, buckets=(BucketConfig(64, 64, 17),)),
    )


def rate(fn: Callable[[int], int], steps: int) -> float:
    """Items per second of fn(step) -> items, after one warm-up call."""
    fn(10_000)
    start, items = time.perf_counter(), 0
    for step in range(steps):
        items += fn(step)
    return items / (time.perf_counter() - start)


@torch.no_grad()
def psnr_by_source(cfg: TrainConfig, run: Path, index: Path, batches: int) -> dict[str, float]:
    """Mean PSNR of autoencoder round trips of an index's clips: over all, and per source."""
    autoencoder = VideoAutoencoder(cfg.model.autoencoder)
    load_weights(autoencoder_checkpoint(run), "autoencoder", autoencoder)
    autoencoder.eval()
    clips = replace(cfg, data=replace(cfg.data, index=str(index), workers=0))
    source = batch_source(clips, seed=99, batch_size=4)
    scores: dict[str, list[float]] = {}
    for step in range(batches):
        frames, captions = source.batch(step)
        video = frames_to_video(frames, CPU)
        reconstruction = autoencoder.decode(autoencoder.encode(video)[0])
        # PSNR of the uint8 round trip, as a viewer sees it.
        quantised = ((reconstruction.clamp(-1, 1) + 1) * 127.5).round() / 127.5 - 1
        for i, caption in enumerate(captions):
            score = psnr(quantised[i], video[i])
            for key in ("all", caption.split()[1]):  # captions read "a <source> pattern"
                scores.setdefault(key, []).append(score)
    return {key: sum(values) / len(values) for key, values in scores.items()}


def transformer_rate(cfg: TrainConfig, run: Path, steps: int) -> float:
    """Samples per second of whole transformer steps: load, encode text, forward, backward."""
    stage = transformer_stage(cfg, run, CPU, MetricsLog(run / "bench-metrics.jsonl"))

    def step(number: int) -> int:
        stage._optimizer_step(stage.stage.loss_fn(number)["loss"])
        return cfg.transformer_stage.batch_size  # one bucket: every batch is this size

    return rate(step, steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=48)
    parser.add_argument("--heldout", type=int, default=12)
    parser.add_argument("--autoencoder-steps", type=int, default=200)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per measure")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    root = Path(tempfile.mkdtemp(prefix="kinema-bench-"))
    results: dict[str, float | int | str] = {
        "threads": args.threads,
        "clip": "17x64x64 at 8 fps, the shapes-64 preset's model",
        "corpus_clips": args.clips,
        "heldout_clips": args.heldout,
    }
    try:
        index = corpus(root / "train", args.clips, seed=0)
        heldout = corpus(root / "heldout", args.heldout, seed=1)
        cfg = config(index, args.autoencoder_steps, args.workers)
        run = root / "run"
        prepare_run(run, cfg, resume=False)
        start = time.perf_counter()
        autoencoder_stage(cfg, run, CPU, MetricsLog(run / METRICS_FILE)).train()
        seconds = time.perf_counter() - start
        results["autoencoder_steps"] = args.autoencoder_steps
        results["autoencoder_batch"] = cfg.autoencoder_stage.batch_size
        results["autoencoder_train_samples_per_s"] = (
            args.autoencoder_steps * cfg.autoencoder_stage.batch_size / seconds
        )
        for name, clips in (("heldout", heldout), ("train_clips", index)):
            for key, value in psnr_by_source(cfg, run, clips, 6).items():
                suffix = "" if key == "all" else f"_{key}"
                results[f"autoencoder_psnr_db_{name}{suffix}"] = value

        batch = cfg.transformer_stage.batch_size
        inline = batch_source(replace(cfg, data=replace(cfg.data, workers=0)), 1, batch)
        results["decode_clips_per_s_inline"] = rate(lambda n: len(inline.batch(n)[1]), args.steps)
        pooled = batch_source(cfg, 1, batch)
        pooled.batch(0)  # start the workers
        results[f"decode_clips_per_s_{args.workers}_workers"] = rate(
            lambda n: len(pooled.batch(n)[1]), args.steps
        )
        pooled.close()
        autoencoder = VideoAutoencoder(cfg.model.autoencoder)
        load_weights(autoencoder_checkpoint(run), "autoencoder", autoencoder)
        encoded = EncodedLatents(inline, autoencoder.eval().requires_grad_(False), CPU)
        results["decode_and_encode_clips_per_s"] = rate(
            lambda n: len(encoded.latents(n)[2]), args.steps
        )

        uncached = root / "run-uncached"
        shutil.copytree(run, uncached)
        start = time.perf_counter()
        build_run_cache(run, cfg, CPU, progress=False)
        items = len(json.loads((run / CACHE_FOLDER / "cache.json").read_text())["items"])
        results["cache_build_clips_per_s"] = items / (time.perf_counter() - start)
        cached = latent_source(cfg, run, autoencoder, CPU, seed=2, batch_size=batch)
        results["cache_read_clips_per_s"] = rate(lambda n: len(cached.latents(n)[2]), args.steps)

        results["transformer_step_samples_per_s_cached"] = transformer_rate(cfg, run, args.steps)
        uncached_cfg = replace(cfg, data=replace(cfg.data, workers=0))
        results["transformer_step_samples_per_s_decoding"] = transformer_rate(
            uncached_cfg, uncached, args.steps
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print_results(results, args.json)


if __name__ == "__main__":
    main()
