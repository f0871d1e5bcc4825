"""Autoencoder decoding of long videos: whole against chunked causal decoding.

    python benchmarks/long_decode.py [--preset shapes-64 | --checkpoint RUN]
        [--lengths 1 2 5 10] [--chunks 8 1] [--threads 2] [--json out.json]

For each length (a multiple of the model's clip, in latent frames: 10× a 17-frame clip is
41 latent frames, 161 pixel frames) the latent is decoded three ways: whole (one call), and
in chunks of `--chunks` latent frames, each causal convolution carrying its last input
frames into the next chunk (`VideoAutoencoder.decode_chunks`; the output equals the whole
decode). Each chunk is turned into uint8 frames at once, as the pipeline does, so the
measured peak is decoder activations plus the finished frames. Every case runs in a
process of its own (memory freed by one case would otherwise hide the next one's growth):
peak resident memory of its first decode above the loaded model, and the wall time of a
second decode. With
--preset the weights are random: memory and time do not depend on them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from isolated_case import peak_then_time, run_case  # benchmarks/, beside this script
from results_table import print_side_by_side

from kinema.model import build_model, load_model
from kinema.pipeline import video_to_frames
from kinema.presets import get_preset


def decoded_frames(autoencoder, latent: torch.Tensor, chunk: int | None) -> np.ndarray:
    if chunk is None:
        return video_to_frames(autoencoder.decode(latent))
    return np.concatenate([video_to_frames(c) for c in autoencoder.decode_chunks(latent, chunk)])


def load(args: argparse.Namespace):
    if args.checkpoint is not None:
        return load_model(args.checkpoint, "cpu")
    torch.manual_seed(0)
    return build_model(get_preset(args.preset).model)


def latent_of(model, length: int) -> torch.Tensor:
    """A random latent `length` clips long: 1 + length·k latent frames for 1 + k per clip."""
    config = model.config
    s = config.autoencoder.spatial_compression
    frames = 1 + length * (model.autoencoder.latent_frames(config.frames) - 1)
    shape = (1, config.autoencoder.latent_channels, frames, config.height // s, config.width // s)
    return torch.randn(shape, generator=torch.Generator().manual_seed(length))


@torch.no_grad()
def one_case(args: argparse.Namespace) -> None:
    """The child process: peak memory of a first decode over the loaded model's resident
    memory, then the time of a second one (set-up excluded)."""
    length, chunk = args.case
    model = load(args)
    autoencoder = model.autoencoder.eval()
    latent = latent_of(model, length)
    frames, peak, seconds = peak_then_time(
        lambda: decoded_frames(autoencoder, latent, chunk or None)
    )
    print(
        json.dumps(
            {
                "latent_frames": latent.shape[2],
                "frames": len(frames),
                "peak": peak,
                "seconds": seconds,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="shapes-64")
    parser.add_argument("--checkpoint", type=Path, help="a trained run instead of the preset")
    parser.add_argument("--lengths", type=int, nargs="+", default=[1, 2, 5, 10])
    parser.add_argument("--chunks", type=int, nargs="+", default=[8, 1])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--case", type=int, nargs=2, help=argparse.SUPPRESS)  # child: LENGTH CHUNK
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.case:
        one_case(args)
        return
    model = load(args)
    config = model.config
    ways = {"whole": 0, **{f"chunk{c}": c for c in args.chunks}}  # 0: one call
    source = (
        ["--checkpoint", str(args.checkpoint)] if args.checkpoint else ["--preset", args.preset]
    )
    passed = [*source, "--threads", str(args.threads)]
    columns: dict[str, dict[str, float | int]] = {}
    for length in args.lengths:
        column: dict[str, float | int] = {}
        for name, chunk in ways.items():
            result = run_case(__file__, [*passed, "--case", str(length), str(chunk)])
            column["latent_frames"], column["frames"] = result["latent_frames"], result["frames"]
            column[f"{name}_peak_mib"] = round(result["peak"], 1)
            column[f"{name}_s"] = round(result["seconds"], 3)
        columns[f"{length}x"] = column
    first = columns[f"{args.lengths[0]}x"]
    for column in columns.values():  # each way's peak against its own at the shortest length
        for name in ways:
            base = max(first[f"{name}_peak_mib"], 1e-9)
            column[f"{name}_peak_vs_{args.lengths[0]}x"] = round(
                column[f"{name}_peak_mib"] / base, 2
            )
    setup = {
        "model": str(args.checkpoint or args.preset),
        "clip": f"{config.frames}x{config.height}x{config.width}",
        "threads": args.threads,
    }
    print_side_by_side(columns, setup, args.json)


if __name__ == "__main__":
    main()
