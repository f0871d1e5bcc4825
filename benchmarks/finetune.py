"""Fine-tuning cost: peak memory and speed of full vs LoRA fine-tuning on the same data.

    python benchmarks/finetune.py [--checkpoint runs/shapes-tiny] [--ranks 4 16]
                                  [--batch-size 16] [--steps 20] [--threads 1]
                                  [--device cpu] [--json out.json]

Writes a lavfi corpus (square clips, so every batch has the model's own shape and size),
turns the batches of every step into latents once through the frozen autoencoder, then
fine-tunes the same model on those same latents in each mode: all weights ("full") and
LoRA adapters of each rank. Decoding and the autoencoder cost the same in every mode and
are left out, so the times are those of what differs: text encoding, forward, backward
and the update. Each mode runs in a fresh process, so its peak memory is its own:

- peak RSS (`ru_maxrss`), and its growth from "model and data loaded" to the end of
  training (gradients, optimiser moments, activations); on CUDA, peak allocated memory;
- median step time and samples per second over the timed steps (after warm-up steps);
- trainable parameters (full: the transformer and a learned text encoder), the memory
  their gradients and AdamW moments take, and the bytes written: the checkpoint or
  adapter folder's weights and its training state.

Prints one table, modes side by side with each LoRA mode's ratio to full; --json writes it.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from results_table import print_side_by_side  # benchmarks/, beside this script
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from kinema.data.lavfi import LavfiClip, write_lavfi_clip
from kinema.data.scan import scan
from kinema.model import load_model, resolve_device
from kinema.train.finetune import clip_latents, finetune_config, finetune_stage, prepare_finetune
from kinema.train.latents import Latents
from kinema.train.metrics import MetricsLog

WARMUP_STEPS = 3


def corpus(folder: Path, count: int) -> Path:
    """Square clips of 3 s at 8 fps: each fills the model's square, full-length bucket."""
    folder.mkdir(parents=True)
    for i in range(count):
        source = ("testsrc2", "mandelbrot", "life")[i % 3]
        clip = LavfiClip(f"{source}-{i:03d}", source, 64, 64, 8, 24, "")
        write_lavfi_clip(clip, folder).with_suffix(".txt").write_text(f"a {source} pattern")
    return scan(folder, progress=False)[1]


def prepare_latents(checkpoint: Path, index: Path, steps: int, batch: int, path: Path) -> None:
    """Every step's latents and captions, encoded once, for all modes to train on."""
    cfg = finetune_config(checkpoint, index, steps=steps, batch_size=batch)
    model = load_model(checkpoint)
    source = clip_latents(cfg, model, torch.device("cpu"))
    tensors, captions = {}, []
    for step in range(steps):
        mean, logvar, text = source.latents(step)
        tensors[f"mean.{step}"], tensors[f"logvar.{step}"] = mean, logvar
        captions.append(text)
    save_file(tensors, str(path))
    path.with_suffix(".json").write_text(json.dumps(captions))


class SavedLatents:
    """A `LatentSource` over prepared latents: the same batches for every mode."""

    def __init__(self, path: Path, device: torch.device) -> None:
        self.tensors = {k: v.to(device) for k, v in load_file(str(path)).items()}
        self.captions = json.loads(path.with_suffix(".json").read_text())

    def latents(self, step: int) -> Latents:
        return self.tensors[f"mean.{step}"], self.tensors[f"logvar.{step}"], self.captions[step]

    def example_latents(self, offset: int, count: int) -> Tensor:
        raise NotImplementedError  # fine-tuning keeps the base's latent statistics

    def encode_text(self, text_encoder: nn.Module, captions: list[str]) -> tuple[Tensor, Tensor]:
        return text_encoder.encode(captions)

    def sample_prompts(self, count: int) -> list[str] | None:
        return None


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def folder_mb(folder: Path, pattern: str) -> float:
    return sum(p.stat().st_size for p in folder.glob(pattern)) / 2**20


def measure_mode(args: argparse.Namespace) -> dict[str, float | int]:
    """One mode, in this (fresh) process."""
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    rank = None if args.mode == "full" else int(args.mode.split("-")[1])
    out = args.work / args.mode
    steps = WARMUP_STEPS + args.steps
    cfg = finetune_config(
        args.checkpoint, args.index, steps, batch_size=args.batch_size, lora_rank=rank
    )
    prepare_finetune(out, cfg, resume=False)
    model = load_model(args.checkpoint, device)
    source = SavedLatents(args.work / "latents.safetensors", device)
    trainer = finetune_stage(out, model, source, MetricsLog(out / "metrics.jsonl"))
    loaded_mb = peak_rss_mb()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    seconds = []
    for step in range(steps):
        start = time.perf_counter()
        trainer._optimizer_step(trainer.stage.loss_fn(step)["loss"])
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds.append(time.perf_counter() - start)
    trainable = sum(p.numel() for p in trainer.parameters)
    result: dict[str, float | int] = {
        "trainable_params": trainable,
        # float32 gradient + AdamW's two moments per trainable parameter: computed, not measured
        "grad_and_adam_mb": trainable * 4 * 3 / 2**20,
        "step_ms": 1000 * statistics.median(seconds[WARMUP_STEPS:]),
        "samples_per_s": args.batch_size / statistics.median(seconds[WARMUP_STEPS:]),
        "rss_loaded_mb": loaded_mb,
        "rss_peak_mb": peak_rss_mb(),
        "rss_training_growth_mb": peak_rss_mb() - loaded_mb,
    }
    if device.type == "cuda":
        result["cuda_peak_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    trainer.step = steps
    saved = trainer.save()
    result["written_weights_mb"] = folder_mb(saved, "*.safetensors")
    result["written_train_state_mb"] = folder_mb(saved, "train_state.pt")
    return result


def run_mode(args: argparse.Namespace, mode: str) -> dict[str, float | int]:
    command = [sys.executable, __file__, "--mode", mode, "--work", str(args.work)]
    command += ["--checkpoint", str(args.checkpoint), "--index", str(args.index)]
    command += ["--batch-size", str(args.batch_size), "--steps", str(args.steps)]
    command += ["--threads", str(args.threads), "--device", args.device]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"mode {mode} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def ratios(columns: dict[str, dict], mode: str) -> dict[str, float]:
    full, other = columns["full"], columns[mode]
    return {key: other[key] / full[key] for key in full if full[key]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path("runs/shapes-tiny")
    parser.add_argument("--checkpoint", type=Path, default=default)
    parser.add_argument("--ranks", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per mode")
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--mode", help=argparse.SUPPRESS)  # a worker: measure one mode
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--index", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(measure_mode(args)))
        return
    args.work = Path(tempfile.mkdtemp(prefix="kinema-finetune-bench-"))
    try:
        args.index = corpus(args.work / "clips", args.clips)
        steps = WARMUP_STEPS + args.steps
        latents = args.work / "latents.safetensors"
        prepare_latents(args.checkpoint, args.index, steps, args.batch_size, latents)
        modes = ["full", *(f"lora-{rank}" for rank in args.ranks)]
        columns = {mode: run_mode(args, mode) for mode in modes}
    finally:
        shutil.rmtree(args.work, ignore_errors=True)
    for mode in modes[1:]:
        columns[f"{mode} / full"] = ratios(columns, mode)
    model = load_model(args.checkpoint).config
    setup = {
        "checkpoint": str(args.checkpoint),
        "model": f"DiT {model.transformer.hidden_size}x{model.transformer.depth}, "
        f"{model.frames}x{model.height}x{model.width}",
        "batch": args.batch_size,
        "timed_steps": args.steps,
        "threads": args.threads,
        "device": args.device,
    }
    print_side_by_side(columns, setup, args.json)


if __name__ == "__main__":
    main()
