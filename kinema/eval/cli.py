"""`kinema eval`: the command, kept here and registered by `kinema.cli`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

# Shared by `kinema generate` and `kinema eval`.
FactorizedOption = Annotated[
    bool | None,
    typer.Option(
        "--factorized/--joint",
        help="Text-to-video in two passes: the first frame, then the video animated from it "
        "(default: the model's)",
    ),
]


def evaluate(
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="Checkpoint or run folder, a run meaning its latest (default: shipped)"),
    ] = None,
    prompts: Annotated[int, typer.Option(help="Evaluation prompts (one video each)")] = 32,
    seed: Annotated[int, typer.Option(help="Picks the prompt set and the sampling seeds")] = 0,
    split: Annotated[
        str, typer.Option(help="train, heldout (unseen combinations) or paraphrase (by hand)")
    ] = "train",
    out: Annotated[
        Path, typer.Option(help="Folder for metrics.json, report.md, contact_sheet.png")
    ] = Path("eval"),
    steps: Annotated[int | None, typer.Option(help="Sampling steps (default: model's)")] = None,
    guidance: Annotated[float | None, typer.Option(help="Classifier-free guidance")] = None,
    step_cache: Annotated[float, typer.Option(help="Step cache threshold (0: off)")] = 0.0,
    factorized: FactorizedOption = None,
    diversity_seeds: Annotated[
        int, typer.Option(help="Videos per short prompt for diversity (0: skip)")
    ] = 4,
    max_objects: Annotated[
        int | None, typer.Option(help="Objects per prompt scene (default: the run's)")
    ] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda … (default: best)")] = None,
) -> None:
    """Generate videos for a fixed set of prompts and measure how well they follow them."""
    from kinema.eval.report import METRICS_FILE, REPORT_FILE, SHEET_FILE
    from kinema.eval.run import EvalSettings, evaluate_checkpoint
    from kinema.model import resolve_device
    from kinema.shipped import checkpoint_or_default

    settings = EvalSettings(
        prompts=prompts,
        seed=seed,
        split=split,
        steps=steps,
        guidance=guidance,
        step_cache=step_cache,
        factorized=factorized,
        diversity_seeds=diversity_seeds,
        max_objects=max_objects,
    )
    run = evaluate_checkpoint(
        checkpoint_or_default(checkpoint), out, settings, resolve_device(device)
    )
    s = run.summary
    rates = ", ".join(f"{name} {100 * r.value:.1f}%" for name, r in s.attributes.items())
    typer.echo(
        f"adherence {100 * s.adherence.value:.1f}% of {s.videos} videos "
        f"(95% CI {100 * s.adherence.interval[0]:.1f}–{100 * s.adherence.interval[1]:.1f}%)"
    )
    typer.echo(f"attributes: {rates} (mean {100 * s.attribute_score:.1f}%)")
    typer.echo(f"consistency {100 * s.consistency.value:.1f}%")
    typer.echo(f"wrote {out / METRICS_FILE}, {out / REPORT_FILE}, {out / SHEET_FILE}")
