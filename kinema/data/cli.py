"""`kinema data scan`, `kinema data cache` and the `--data` options of `kinema train`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from kinema.config import DataConfig, TrainConfig
from kinema.errors import KinemaError


def scan_command(
    source: Annotated[Path, typer.Argument(help="A folder of clips, or a CSV/JSONL index")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Index to write (.csv or .jsonl; default: beside)"),
    ] = None,
    min_frames: Annotated[int, typer.Option(help="Clips with fewer frames are skipped")] = 1,
    workers: Annotated[int, typer.Option(help="Probing processes (0: this one)")] = 0,
) -> None:
    """Probe every file; write an index of the usable ones and a report of the rest."""
    from kinema.data.scan import report_path, scan

    result, index = scan(source, output, min_frames, workers)
    typer.echo(f"{index}: {result.summary()}")
    for item in result.skipped:
        typer.echo(f"  skipped {item.path}: {item.reason} ({item.detail})")
    typer.echo(f"report: {report_path(index)}")


def cache_command(
    run: Annotated[Path, typer.Argument(help="Run folder trained with --data (stage 1 done)")],
    device: Annotated[str, typer.Option(help="cpu, cuda …")] = "cpu",
) -> None:
    """Precompute the run's latents (and frozen text embeddings) into RUN/cache."""
    import torch

    from kinema.config import load_json
    from kinema.train.latents import build_run_cache
    from kinema.train.run import RUN_CONFIG_FILE

    if not (run / RUN_CONFIG_FILE).is_file():
        raise KinemaError(f"'{run}' is not a training run folder (no {RUN_CONFIG_FILE})")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise KinemaError(f"device '{device}' was asked for but no CUDA GPU is available")
    folder = build_run_cache(
        run, load_json(TrainConfig, run / RUN_CONFIG_FILE), torch.device(device)
    )
    typer.echo(f"cache complete: {folder}")


def with_data(
    cfg: TrainConfig | None,
    index: Path | None,
    images: Path | None,
    image_ratio: float,
    cache: bool,
    workers: int,
) -> TrainConfig:
    """A preset turned to train on your clips; bad paths are refused before any work."""
    from kinema.data.index import read_index

    if cfg is None:
        raise KinemaError("--data and --images need --preset: the model to train on them")
    if index is not None:
        read_index(index)  # refuses a missing index or a path that leaves its folder
    if images is not None and not images.exists():
        raise KinemaError(f"--images '{images}' does not exist")
    if not 0.0 <= image_ratio <= 1.0:
        raise KinemaError(f"--image-ratio must be in [0, 1], got {image_ratio}")
    if workers < 0:
        raise KinemaError(f"--workers must be >= 0, got {workers}")
    data = DataConfig(
        index=str(index.resolve()) if index else "",
        images=str(images.resolve()) if images else "",
        image_ratio=image_ratio,
        cache=cache,
        workers=workers,
    )
    return replace(cfg, data=data)
