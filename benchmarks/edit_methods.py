"""Edit methods side by side: how well each keeps the input's motion while the colour word
changes, at several strengths.

    python benchmarks/edit_methods.py --checkpoint runs/shapes-tiny [--cases 32]
        [--methods sdedit invert flowedit] [--strengths 0.4 0.6 0.8] [--empty-source]
        [--threads 2] [--json out.json]

The cases are those of benchmarks/eval_modes.py (kinema/eval/modes.py): each edit asks for
the case's caption with its colour word changed. invert and flowedit are told the case's
own caption as the source prompt (with --empty-source also a column each with the empty
prompt instead). Columns: method at strength; rows: median centroid error against the
input's trajectory, % of cases within 2 px, % whose object took the new colour (the
targets of the modes issue: <= 2 px and >= 90%), and seconds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from results_table import print_side_by_side  # benchmarks/, beside this script

from kinema.eval.modes import measure_edits, mode_cases
from kinema.eval.run import run_world
from kinema.flow import EDIT_METHODS
from kinema.model import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--cases", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--methods", nargs="+", choices=EDIT_METHODS, default=list(EDIT_METHODS))
    parser.add_argument("--strengths", type=float, nargs="+", default=[0.4, 0.6, 0.8])
    parser.add_argument("--empty-source", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.checkpoint, "cpu").eval()
    run_cfg = run_world(args.checkpoint)
    scale = run_cfg.world.object_scale if run_cfg is not None else 1.0
    cases = mode_cases(model, args.cases, args.seed, object_scale=scale)
    columns: dict[str, dict[str, float]] = {}
    for method in args.methods:
        sources = [True, False] if args.empty_source and method != "sdedit" else [True]
        for source in sources:
            for strength in args.strengths:
                start = time.perf_counter()
                name = f"{method}{'' if source else ' (empty source)'} {strength}"
                columns[name] = measure_edits(model, cases, strength, method, source, args.steps)
                columns[name]["seconds"] = round(time.perf_counter() - start, 1)
                print(name, columns[name], flush=True)
    setup = {"checkpoint": str(args.checkpoint), "cases": len(cases), "object_scale": scale}
    print_side_by_side(columns, setup, args.json)


if __name__ == "__main__":
    main()
