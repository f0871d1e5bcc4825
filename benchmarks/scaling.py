"""How generation time and memory grow with frames and with resolution, 64 to 16k tokens.

    python benchmarks/scaling.py [--preset shapes-64] [--threads 2] [--json out.json]
        [--plot docs/scaling.png] [--max-tokens 16384]

Two sweeps over the preset's transformer and autoencoder (random weights: time and memory
do not depend on them): frames at a fixed 128×128, and resolution at a fixed 17 frames.
For each size: one sampling step's transformer call (both guidance branches, batch 2, the
prompt's keys and values prepared once, as in generation) and the chunked autoencoder
decode of the whole latent; each in a process of its own, so the peak resident memory
above the loaded model is that case's alone. Prints one table (a column per size) and,
with --plot, draws time and memory against tokens on log-log axes.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
from isolated_case import peak_then_time, run_case  # benchmarks/, beside this script
from results_table import print_side_by_side

from kinema.dit import patch_grid
from kinema.model import build_model
from kinema.pipeline import DECODE_CHUNK, video_to_frames
from kinema.presets import get_preset

# (sweep, frames, height, width). 128×128 is 64 tokens per latent frame at ×8 and patch 2.
FRAME_SWEEP = [("frames", f, 128, 128) for f in (1, 17, 65, 257, 1021)]
RESOLUTION_SWEEP = [("resolution", 17, s, s) for s in (64, 128, 256, 512)]


def tokens_of(config, frames: int, height: int, width: int) -> tuple[int, tuple[int, ...]]:
    ae = config.autoencoder
    s = ae.spatial_compression
    latent = (1 + (frames - 1) // ae.temporal_compression, height // s, width // s)
    return math.prod(patch_grid(latent, config.transformer.patch_size)), latent


@torch.no_grad()
def one_case(preset: str, frames: int, height: int, width: int, part: str) -> dict[str, float]:
    """The child process: peak memory of a first call over the loaded model, then the wall
    time of a second one."""
    torch.manual_seed(0)
    model = build_model(get_preset(preset).model).eval()
    config = model.config
    _, latent_shape = tokens_of(config, frames, height, width)
    channels = config.autoencoder.latent_channels
    generator = torch.Generator().manual_seed(0)
    if part == "step":
        x = torch.randn(2, channels, *latent_shape, generator=generator)
        t = torch.full((2,), 0.5)
        context, mask = model.text_encoder.encode(["a red circle moves right", ""])
        prepared = model.transformer.prepare_text(context, mask)

        def call() -> None:
            model.transformer(x, t, prepared)
    else:
        latent = torch.randn(1, channels, *latent_shape, generator=generator)

        def call() -> None:
            chunks = model.autoencoder.decode_chunks(latent, DECODE_CHUNK)
            np.concatenate([video_to_frames(chunk) for chunk in chunks])

    _, peak, seconds = peak_then_time(call)
    return {"seconds": seconds, "peak_mib": peak}


def plot(columns: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (time_axis, memory_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for sweep, marker in (("frames", "o"), ("resolution", "s")):
        cases = sorted(
            (c for c in columns.values() if sweep in c["sweep"].split("+")),
            key=lambda c: c["tokens"],
        )
        tokens = [c["tokens"] for c in cases]
        for part, style in (("step", "-"), ("decode", "--")):
            label = f"{part}, {sweep} sweep"
            time_axis.plot(
                tokens, [c[f"{part}_s"] for c in cases], style, marker=marker, label=label
            )
            memory_axis.plot(
                tokens,
                [max(c[f"{part}_peak_mib"], 0.1) for c in cases],
                style,
                marker=marker,
                label=label,
            )
    for axis, title in ((time_axis, "seconds"), (memory_axis, "peak memory above model (MiB)")):
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xlabel("transformer tokens")
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
    time_axis.legend(fontsize=8)
    figure.suptitle("Kinema scaling: one guided sampling step and chunked decoding (CPU)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="shapes-64")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=16384)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path)
    parser.add_argument("--case", nargs=4, help=argparse.SUPPRESS)  # child: F H W PART
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.case:
        frames, height, width, part = args.case
        print(json.dumps(one_case(args.preset, int(frames), int(height), int(width), part)))
        return
    config = get_preset(args.preset).model
    columns: dict[str, dict] = {}
    for sweep, frames, height, width in FRAME_SWEEP + RESOLUTION_SWEEP:
        tokens, _ = tokens_of(config, frames, height, width)
        name = f"{frames}x{height}x{width}"
        if name in columns:  # a size both sweeps pass through is measured once
            columns[name]["sweep"] += f"+{sweep}"
            continue
        if tokens > args.max_tokens:
            continue
        column: dict = {"sweep": sweep, "tokens": tokens}
        for part in ("step", "decode"):
            case = ["--case", str(frames), str(height), str(width), part]
            result = run_case(
                __file__, ["--preset", args.preset, "--threads", str(args.threads), *case]
            )
            column[f"{part}_s"] = round(result["seconds"], 3)
            column[f"{part}_peak_mib"] = round(result["peak_mib"], 1)
        columns[name] = column
        print(f"{name}: {column}", file=sys.stderr, flush=True)
    setup = {"preset": args.preset, "threads": args.threads, "device": "cpu"}
    print_side_by_side(columns, setup, args.json)
    if args.plot:
        plot(columns, args.plot)


if __name__ == "__main__":
    main()
