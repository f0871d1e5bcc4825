"""The evaluator's bars on ground-truth renders, as tables.

    python benchmarks/eval_groundtruth.py [--scenes 500]

For each world: attribute accuracy and full-prompt adherence on clean renders, the same
with every render paired with the next scene's caption (next to the chance level a
perfect analyzer would get), and accuracy under each damage level.
"""

from __future__ import annotations

import argparse
import time

from kinema.config import WorldConfig
from kinema.eval.degrade import Degradation
from kinema.eval.groundtruth import chance_summary, judge_renders, readable, world_samples
from kinema.eval.metrics import ATTRIBUTES, Summary, summarize

WORLDS = {
    "tiny 32x32 9f@4 1 obj": WorldConfig(
        height=32, width=32, frames=9, fps=4, max_objects=1, split="all"
    ),
    "64x64 17f@8 1 obj": WorldConfig(
        height=64, width=64, frames=17, fps=8, max_objects=1, split="all"
    ),
    "64x64 17f@8 1-3 obj": WorldConfig(
        height=64, width=64, frames=17, fps=8, max_objects=3, split="all"
    ),
}
DAMAGES = {
    "blur 1.0": Degradation(blur=1.0),
    "jitter 0.15": Degradation(jitter=0.15),
    "noise 12": Degradation(noise=12.0),
    "jpeg 50": Degradation(jpeg_quality=50),
    "standard (0.6/0.08/6/q75)": Degradation(blur=0.6, jitter=0.08, noise=6.0, jpeg_quality=75),
    "strong (0.8/0.1/8/q60)": Degradation(blur=0.8, jitter=0.1, noise=8.0, jpeg_quality=60),
    "harsh (1.0/0.1/10/q50)": Degradation(blur=1.0, jitter=0.1, noise=10.0, jpeg_quality=50),
}
CHANCE_SCENES = 300  # all ordered pairs of this many scenes


def _row(name: str, summary: Summary) -> str:
    cells = []
    for attribute in ATTRIBUTES:
        rate = summary.attributes.get(attribute)
        cells.append("" if rate is None else f"{100 * rate.value:.1f}")
    low, high = summary.adherence.interval
    adherence = f"{100 * summary.adherence.value:.2f} [{100 * low:.2f}, {100 * high:.2f}]"
    return f"| {name} | " + " | ".join(cells) + f" | {adherence} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    header = "| renders | " + " | ".join(ATTRIBUTES) + " | adherence % [95% CI] |"
    rule = "| --- " * (len(ATTRIBUTES) + 2) + "|"
    for world_name, world in WORLDS.items():
        start = time.perf_counter()
        samples = world_samples(world, args.scenes, seed=args.seed)
        print(f"\n## {world_name}, {args.scenes} scenes (accuracy %)\n")
        print(header)
        print(rule)
        results = judge_renders(samples, world.fps)
        print(_row("clean", summarize(results)))
        clear = [r for r, s in zip(results, samples, strict=True) if readable(s.scene, world)]
        if len(clear) < len(samples):
            print(_row(f"clean, readable scenes only ({len(clear)})", summarize(clear)))
        print(_row("mismatched captions", summarize(judge_renders(samples, world.fps, None, 1))))
        chance = chance_summary([s.scene for s in samples[:CHANCE_SCENES]])
        print(_row(f"chance (perfect analyzer, {CHANCE_SCENES} scenes, all pairs)", chance))
        for damage_name, damage in DAMAGES.items():
            results = judge_renders(samples, world.fps, damage, seed=args.seed)
            print(_row(damage_name, summarize(results)))
        print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
