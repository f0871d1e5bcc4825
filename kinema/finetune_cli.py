"""`kinema finetune` and `kinema lora merge`: a trained model on your own clips."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kinema.errors import KinemaError


def finetune_command(
    out: Annotated[Path, typer.Option("--out", help="Folder for checkpoints or adapters")],
    checkpoint: Annotated[
        Path | None, typer.Option(help="Trained model: checkpoint or run folder (its latest)")
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="CSV/JSONL index of your clips (kinema data scan)")
    ] = None,
    lora_rank: Annotated[
        int | None, typer.Option(help="Train LoRA adapters of this rank (default: all weights)")
    ] = None,
    lora_alpha: Annotated[
        float | None, typer.Option(help="Adapter scale is alpha / rank (default alpha: rank)")
    ] = None,
    steps: Annotated[int, typer.Option(help="Optimiser steps")] = 200,
    lr: Annotated[
        float | None, typer.Option(help="Peak learning rate (default: 1e-4 full, 1e-3 LoRA)")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Clips per step")] = 4,
    resume: Annotated[bool, typer.Option(help="Continue the fine-tuning in --out")] = False,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, cuda:1 … (default: best)")] = None,
) -> None:
    """Fine-tune a trained model on your clips: all transformer weights, or LoRA adapters."""
    from kinema.model import resolve_device
    from kinema.train.finetune import finetune, finetune_config, prepare_finetune

    cfg = None
    if not resume or checkpoint is not None or data is not None:
        if checkpoint is None or data is None:
            raise KinemaError("fine-tuning needs --checkpoint (the model) and --data (your clips)")
        cfg = finetune_config(checkpoint, data, steps, lr, batch_size, lora_rank, lora_alpha)
    cfg = prepare_finetune(out, cfg, resume)
    final = finetune(out, resolve_device(device))
    what = "LoRA adapter" if cfg.lora else "checkpoint"
    typer.echo(f"fine-tuned {what}: {final}")


def lora_merge_command(
    checkpoint: Annotated[Path, typer.Option(help="The base checkpoint the adapter was made on")],
    lora: Annotated[Path, typer.Option(help="Adapter folder, or a LoRA fine-tuning folder")],
    out: Annotated[Path, typer.Option("--out", help="New folder for the merged checkpoint")],
) -> None:
    """Fold a LoRA adapter into its base: an ordinary checkpoint, as fast as the base."""
    from kinema.adapter import merge_adapter

    typer.echo(f"merged checkpoint: {merge_adapter(checkpoint, lora, out)}")
