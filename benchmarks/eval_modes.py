"""Every prompting mode of a trained model, measured with the evaluator (issue targets beside).

    python benchmarks/eval_modes.py --checkpoint runs/shapes-tiny [--cases 16] [--seed 0]
        [--steps N] [--strength 0.6] [--long 10] [--long-cases 8] [--threads 2] [--json out.json]

Cases are one-object train-split world scenes rendered a latent frame longer than the
model's window, so the ground truth of every mode exists (see kinema/eval/modes.py for what
each number means); the long video extends each of the first --long-cases cases whose object
stays in view.
Prints one table per part: the modes side by side, adherence by aspect ratio, and the long
video against a short one.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from results_table import print_results, print_side_by_side  # benchmarks/, beside this script

from kinema.eval.modes import (
    aspect_adherence,
    aspect_sizes,
    lasting_cases,
    long_video,
    measure_modes,
    mode_cases,
)
from kinema.eval.run import run_world
from kinema.model import load_model

TARGETS = {
    "image": "first frame >= 30 dB; colour, shape, motion as prompted",
    "extend/backward/loop": "seam jump <= the object's per-frame step + 2 px; identity kept",
    "connect": "ends match the inputs (>= 28 dB); the object travels between them",
    "edit": "trajectory error <= 2 px while the colour changes in >= 90%",
    "aspect": "16:9 and 9:16 within 5 points of 1:1 adherence",
    "long": "10x: the object in every frame; peak memory <= 1.2x of 2x",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--cases", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--strength", type=float, default=0.6)
    parser.add_argument("--long", type=int, default=10)
    parser.add_argument("--long-cases", type=int, default=8, help="lasting cases extended")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.checkpoint, "cpu").eval()
    run_cfg = run_world(args.checkpoint)  # scenes drawn at the size the model trained on
    scale = run_cfg.world.object_scale if run_cfg is not None else 1.0
    cases = mode_cases(model, args.cases, args.seed, object_scale=scale)
    start = time.perf_counter()
    modes = measure_modes(model, cases, args.steps, args.strength, progress=print)
    sizes = aspect_sizes(model)
    aspects = aspect_adherence(model, cases, sizes, args.steps)
    longest = long_video(model, lasting_cases(cases, args.long_cases), args.long, args.steps)
    setup = {
        "checkpoint": str(args.checkpoint),
        "cases": len(cases),
        "object_scale": scale,
        "seconds": round(time.perf_counter() - start, 1),
    }
    print_side_by_side(modes, setup, None)
    print()
    print_results({f"adherence at {size} (%)": value for size, value in aspects.items()}, None)
    print()
    print_results(longest, None)
    print()
    print_results(TARGETS, None)
    if args.json:
        args.json.write_text(
            json.dumps(
                {"setup": setup, "modes": modes, "aspect": aspects, "long": longest}, indent=2
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
