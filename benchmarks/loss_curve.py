"""A run's training loss per stage, plotted from its metrics.jsonl (for model cards).

    python benchmarks/loss_curve.py RUN --out docs/NAME-loss.png [--smooth 20]

One panel per stage (autoencoder, transformer): the logged loss and its moving average over
--smooth logs, against the step, with the minutes into the run of the stage's last log. A resumed
run logs some steps twice; the later entry wins. Needs the `plot` extra (matplotlib).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def stage_curves(metrics: Path) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """stage -> (steps, losses, seconds into the run of its last log)."""
    by_stage: dict[str, dict[int, dict]] = {}
    for line in metrics.read_text().splitlines():
        entry = json.loads(line)
        if "loss" in entry and "step" in entry:
            by_stage.setdefault(entry["stage"], {})[entry["step"]] = entry
    curves = {}
    for stage, entries in by_stage.items():
        steps = np.array(sorted(entries))
        losses = np.array([entries[s]["loss"] for s in steps])
        curves[stage] = (steps, losses, float(entries[int(steps[-1])].get("time", 0.0)))
    return curves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--smooth", type=int, default=20)
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = stage_curves(args.run / "metrics.jsonl")
    figure, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 3.6), squeeze=False)
    for axis, (stage, (steps, losses, seconds)) in zip(axes[0], curves.items(), strict=True):
        axis.plot(steps, losses, alpha=0.3, label="logged")
        window = min(args.smooth, len(losses))
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        axis.plot(steps[window - 1 :], smooth, label=f"mean of {window} logs")
        axis.set_yscale("log")
        axis.set_xlabel("step")
        axis.set_title(f"{stage} (last log {seconds / 60:.1f} min into the run)")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
        print(f"{stage}: {len(steps)} logs to step {steps[-1]}, last mean {smooth[-1]:.4f}")
    config = args.run / "train_config.json"
    name = json.loads(config.read_text())["name"] if config.is_file() else args.run.name
    figure.suptitle(f"Training loss: {name} ({args.run.name})")
    figure.tight_layout()
    figure.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
