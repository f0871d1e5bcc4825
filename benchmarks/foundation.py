"""Foundation numbers of a trained run: autoencoder PSNR, training throughput, generation time.

    python benchmarks/foundation.py runs/shapes-tiny [--clips 256] [--json out.json]

Prints one table. PSNR is measured on clips the autoencoder never saw (another seed, and
the held-out split); throughput is the transformer stage's full step (render, encode,
text, forward, backward, update) at the preset's batch size on this machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from results_table import print_results  # benchmarks/, beside this script

from kinema.autoencoder import VideoAutoencoder, psnr
from kinema.checkpoint import latest_checkpoint, load_weights
from kinema.config import TrainConfig, load_json
from kinema.model import load_model
from kinema.pipeline import GenerationRequest, frames_to_video, generate
from kinema.train.metrics import MetricsLog
from kinema.train.run import RUN_CONFIG_FILE
from kinema.train.transformer_stage import transformer_stage
from kinema.world import WorldDataset


@torch.no_grad()
def autoencoder_psnr(run: Path, cfg: TrainConfig, clips: int, split: str) -> float:
    autoencoder = VideoAutoencoder(cfg.model.autoencoder)
    load_weights(latest_checkpoint(run / "autoencoder"), "autoencoder", autoencoder)
    autoencoder.eval()
    dataset = WorldDataset(replace(cfg.world, split=split), seed=987_654)
    scores = []
    for start in range(0, clips, 16):
        frames, _, _ = dataset.batch(start, 16)
        video = frames_to_video(frames, torch.device("cpu"))
        mean, _ = autoencoder.encode(video)
        reconstruction = autoencoder.decode(mean)
        # PSNR of the uint8 round trip, as a viewer sees it.
        quantised = ((reconstruction.clamp(-1, 1) + 1) * 127.5).round() / 127.5 - 1
        scores.extend(psnr(quantised[i], video[i]) for i in range(len(video)))
    return sum(scores) / len(scores)


def training_throughput(run: Path, cfg: TrainConfig, steps: int) -> float:
    scratch = Path(tempfile.mkdtemp())
    # A small latent pool: its encoding is set-up, not a step's cost (steps draw from it).
    pool = min(cfg.world.latent_pool, 512)
    stage = transformer_stage(
        replace(
            cfg,
            world=replace(cfg.world, latent_pool=pool),
            transformer_stage=replace(cfg.transformer_stage, steps=10**9),
        ),
        run,
        torch.device("cpu"),
        MetricsLog(scratch / "metrics.jsonl"),
    )
    stage.stage.loss_fn(0)["loss"].backward()  # warm-up
    start = time.perf_counter()
    for step in range(steps):
        stage._optimizer_step(stage.stage.loss_fn(step)["loss"])
    elapsed = time.perf_counter() - start
    return steps * cfg.transformer_stage.batch_size / elapsed


def generation_seconds(run: Path, prompts: list[str], steps: int | None) -> float:
    model = load_model(run)
    generate(model, GenerationRequest(prompt=prompts[0], steps=2))  # warm-up
    start = time.perf_counter()
    for seed, prompt in enumerate(prompts):
        generate(model, GenerationRequest(prompt=prompt, seed=seed, steps=steps))
    return (time.perf_counter() - start) / len(prompts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--clips", type=int, default=256)
    parser.add_argument("--train-steps", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    cfg = load_json(TrainConfig, args.run / RUN_CONFIG_FILE)
    _, prompts, _ = WorldDataset(cfg.world, seed=4242).batch(0, 8)
    model_cfg = load_model(args.run).config
    results = {
        "preset": cfg.name,
        "threads": torch.get_num_threads(),
        "autoencoder_psnr_db_unseen_train_split": autoencoder_psnr(
            args.run, cfg, args.clips, "train"
        ),
        "autoencoder_psnr_db_heldout_split": autoencoder_psnr(args.run, cfg, args.clips, "heldout"),
        "transformer_train_samples_per_s": training_throughput(args.run, cfg, args.train_steps),
        "seconds_per_clip": generation_seconds(args.run, prompts, None),
        "sampling_steps": model_cfg.flow.sample_steps,
        "guidance": model_cfg.flow.guidance,
        "clip": f"{cfg.world.frames}x{cfg.world.height}x{cfg.world.width}",
    }
    print_results(results, args.json)


if __name__ == "__main__":
    main()
