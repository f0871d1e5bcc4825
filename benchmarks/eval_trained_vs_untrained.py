"""A trained model against untrained ones from the same config, through `kinema eval`'s loop.

    python benchmarks/eval_trained_vs_untrained.py --checkpoint runs/shapes-tiny [--prompts 64]

Rows: the checkpoint; its trained autoencoder and text encoder with a freshly initialised
transformer (an untrained generator); and a fully untrained model (`build_model`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from kinema.checkpoint import load_config, resolve_checkpoint
from kinema.config import WorldConfig
from kinema.eval.metrics import ATTRIBUTES
from kinema.eval.run import EvalRun, EvalSettings, evaluate_model, run_world
from kinema.model import build_model, load_model


def _row(name: str, run: EvalRun) -> str:
    s = run.summary
    cells = [
        "" if a not in s.attributes else f"{100 * s.attributes[a].value:.1f}" for a in ATTRIBUTES
    ]
    low, high = s.adherence.interval
    diversity = "n/a" if run.diversity_score is None else f"{run.diversity_score:.2f}"
    return (
        f"| {name} | "
        + " | ".join(cells)
        + f" | {100 * s.attribute_score:.1f}"
        + f" | {100 * s.adherence.value:.1f} [{100 * low:.1f}, {100 * high:.1f}]"
        + f" | {100 * s.consistency.value:.1f} | {diversity} | {run.seconds:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", default="train")
    args = parser.parse_args()
    torch.manual_seed(0)
    folder = resolve_checkpoint(args.checkpoint)
    run_cfg = run_world(args.checkpoint)
    world = run_cfg.world if run_cfg is not None else WorldConfig(max_objects=1)
    settings = EvalSettings(prompts=args.prompts, seed=args.seed, split=args.split)
    trained = load_model(folder)
    fresh = build_model(load_config(folder)).eval()
    generator_only = load_model(folder)
    generator_only.transformer = fresh.transformer
    models = {
        f"trained ({folder.parent.parent.name}/{folder.name})": trained,
        "untrained transformer, trained autoencoder": generator_only,
        "untrained (build_model)": fresh,
    }
    print(f"\n{args.prompts} prompts, split {args.split}, seed {args.seed} (accuracy %)\n")
    print(
        "| model | "
        + " | ".join(ATTRIBUTES)
        + " | mean | adherence [95% CI] | consistency | diversity | seconds |"
    )
    print("| --- " * (len(ATTRIBUTES) + 6) + "|")
    for name, model in models.items():
        run = evaluate_model(model, settings, name, world.max_objects, False, world.object_scale)
        print(_row(name, run), flush=True)


if __name__ == "__main__":
    main()
