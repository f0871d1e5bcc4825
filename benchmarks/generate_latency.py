"""Generation time by stage and peak memory of a model's default clip, end to end.

    python benchmarks/generate_latency.py [--checkpoint RUN] (default: the shipped model)
        [--preset shapes-64] (instead: an untrained model of a preset, random weights)
        [--prompt "…"] [--steps 25 12] [--step-cache 0 0.2] [--repeats 3] [--threads 2]
        [--device cpu] [--baseline-steps 25]
        [--json out.json]

For each step count (a column): the whole `generate` call (text encoding, sampling with
classifier-free guidance, autoencoder decoding), then its stages timed on their own with the
same shapes: the text encoder on the prompt and the empty prompt, one sampling step (the
mean gap between the sampler's per-step callbacks), and decoding the clip's latent. Peak
memory: resident set size over the whole call on CPU (Linux: reset through
/proc/self/clear_refs before each call), allocated memory on CUDA. Medians over --repeats
after one warm-up call. Every call's prompt is new to the model's text memo; the empty
negative prompt is remembered from the warm-up, as in a server or an evaluation (a single
`kinema generate` encodes both). --baseline-steps adds a first column as the first shipped version
ran: that many steps, and PyTorch's own choice of 3D convolution kernel (its native one at
batch 1, where Kinema now calls oneDNN: kinema/autoencoder/layers.py) and no text memo,
with the speed-up of every column over it.

--preset times an untrained model built from a preset's config: the cost of a model of that
size and clip before one is trained (the arithmetic does not depend on the weights; the step
cache does, so it is not offered there).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from results_table import print_side_by_side  # benchmarks/, beside this script

from kinema.memory import peak_rss_bytes, reset_peak_rss
from kinema.model import build_model, load_model
from kinema.pipeline import GenerationRequest, generate
from kinema.presets import get_preset
from kinema.shipped import checkpoint_or_default


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    else:
        reset_peak_rss()


def peak_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return peak_rss_bytes() / 2**20


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def stamper(stamps: list[float], device: torch.device):
    """A progress callback that records when each sampling step ends."""

    def progress(_done: int, _total: int) -> None:
        synchronize(device)
        stamps.append(time.perf_counter())

    return progress


def forget(model, prompt: str, first_version: bool) -> None:
    """Every call is a new prompt: it leaves the text memo. The first version had no memo,
    so it encoded the negative prompt at every call too."""
    model.text_memo.forget(None if first_version else [prompt])


def measure(
    model,
    prompt: str,
    steps: int,
    repeats: int,
    step_cache: float = 0.0,
    first_version: bool = False,
) -> dict[str, float]:
    device = model.device
    cfg = model.config
    totals, step_gaps, peaks = [], [], []
    for repeat in range(repeats + 1):
        stamps: list[float] = []
        progress = stamper(stamps, device)
        reset_peak(device)
        forget(model, prompt, first_version)
        synchronize(device)
        start = time.perf_counter()
        request = GenerationRequest(prompt, seed=repeat, steps=steps, step_cache=step_cache)
        generate(model, request, progress)
        synchronize(device)
        if repeat:  # the first call warms up
            totals.append(time.perf_counter() - start)
            step_gaps += [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
            peaks.append(peak_mib(device))
    ae = cfg.autoencoder
    latent = torch.randn(
        1,
        ae.latent_channels,
        1 + (cfg.frames - 1) // ae.temporal_compression,
        cfg.height // ae.spatial_compression,
        cfg.width // ae.spatial_compression,
        device=device,
    )
    text, decode = [], []
    with torch.no_grad():
        for _ in range(repeats + 1):
            synchronize(device)
            start = time.perf_counter()
            forget(model, prompt, first_version)
            model.encode_prompts([prompt, ""])
            synchronize(device)
            text.append(time.perf_counter() - start)
            start = time.perf_counter()
            model.autoencoder.decode(latent)
            synchronize(device)
            decode.append(time.perf_counter() - start)
    # The mean gap: with the step cache, skipped and computed steps differ by far.
    step = statistics.mean(step_gaps) if step_gaps else statistics.median(totals) / steps
    return {
        "total (s)": statistics.median(totals),
        "text encoding (ms)": 1000 * statistics.median(text[1:]),
        "one sampling step (ms)": 1000 * step,
        "sampling, all steps (ms)": 1000 * step * steps,
        "decode (ms)": 1000 * statistics.median(decode[1:]),
        "peak memory (MiB)": max(peaks),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--preset", default=None, help="an untrained model of this preset")
    parser.add_argument("--prompt", default="a red circle moves to the right on a black background")
    parser.add_argument("--steps", type=int, nargs="+", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--step-cache", type=float, nargs="+", default=[0.0], help="thresholds (0: off)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--baseline-steps", type=int, default=None)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.preset is not None:
        if args.checkpoint is not None or any(args.step_cache):
            parser.error("--preset times an untrained model: no --checkpoint, no --step-cache")
        checkpoint = f"untrained {args.preset}"
        model = build_model(get_preset(args.preset).model).to(args.device).eval()
    else:
        checkpoint = checkpoint_or_default(args.checkpoint)
        model = load_model(checkpoint, args.device).eval()
    cfg = model.config
    counts = args.steps or [cfg.flow.sample_steps]
    columns = {}
    if args.baseline_steps:
        with torch.backends.mkldnn.flags(enabled=False):
            name = f"{args.baseline_steps} steps, native conv (first version)"
            columns[name] = measure(
                model, args.prompt, args.baseline_steps, args.repeats, first_version=True
            )
    for n in counts:
        for cache in args.step_cache:
            name = f"{n} steps" + (f", cache {cache}" if cache else "")
            columns[name] = measure(model, args.prompt, n, args.repeats, cache)
    if args.baseline_steps:
        first = next(iter(columns.values()))["total (s)"]
        for column in columns.values():
            column["speed-up over the first version"] = first / column["total (s)"]
    setup = {
        "checkpoint": str(checkpoint),
        "clip": f"{cfg.frames}x{cfg.height}x{cfg.width}",
        "sampler": cfg.flow.sampler,
        "guidance": cfg.flow.guidance,
        "device": args.device if args.device != "cpu" else f"cpu, {args.threads} threads",
    }
    print_side_by_side(columns, setup, args.json)


if __name__ == "__main__":
    main()
