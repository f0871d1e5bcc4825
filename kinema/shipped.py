"""The model that ships in the repository: where commands find it when no --checkpoint is
given, and how a trained checkpoint becomes it (weights in half precision)."""

from __future__ import annotations

import shutil
import sys
from dataclasses import replace
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from kinema.checkpoint import (
    CONFIG_FILE,
    WEIGHT_FILES,
    atomic_directory,
    load_config,
    resolve_checkpoint,
    save_config,
)
from kinema.config import save_json
from kinema.errors import KinemaError
from kinema.eval.run import RUN_CONFIG_FILE, run_world
from kinema.provenance import STARTED_FROM_FILE, run_file

SHIPPED_DIR = Path("checkpoints")
# In order of preference: the shapes-64 model where it has been trained and exported,
# else the shapes-tiny one.
SHIPPED_NAMES = ("kinema-shapes-64", "kinema-shapes-tiny")
WEIGHT_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
# The model card, written by hand: kept when a model is exported into its folder again.
MODEL_CARD = "README.md"


def default_checkpoint() -> Path | None:
    """The shipped model, under the working directory, beside the source tree, or where a
    wheel installs it (PREFIX/share/kinema/checkpoints)."""
    source_tree = Path(__file__).resolve().parents[1]
    installed = Path(sys.prefix) / "share" / "kinema" / SHIPPED_DIR
    for name in SHIPPED_NAMES:
        for root in (SHIPPED_DIR, source_tree / SHIPPED_DIR, installed):
            if (root / name / CONFIG_FILE).is_file():
                return root / name
    return None


def checkpoint_or_default(checkpoint: Path | None) -> Path:
    """`checkpoint` as given, or the shipped model; neither is a clear error."""
    if checkpoint is not None:
        return checkpoint
    found = default_checkpoint()
    if found is None:
        names = " or ".join(f"{SHIPPED_DIR / name}/" for name in SHIPPED_NAMES)
        raise KinemaError(
            f"no --checkpoint given and no shipped model in {names}: pass a checkpoint or "
            "run folder, e.g. --checkpoint runs/shapes-tiny"
        )
    return found


def export_checkpoint(
    source: Path, out: Path, dtype: str = "float16", sample_steps: int | None = None
) -> dict[str, int]:
    """Copy a checkpoint (or a run's latest) to `out` with floating weights cast to `dtype`.

    Returns the bytes of each file written. Models load half-precision files into their
    float32 parameters (`load_state_dict` casts), so an exported folder is a checkpoint like
    any other. `sample_steps` replaces the default number of sampling steps in the
    config.json (generation's default; the run's training config, which goes along for the
    evaluator's world, keeps what it trained with), and so does the run's
    started_from.json (a warm-started run's earlier phases). A model card already in `out` is kept.
    """
    if dtype not in WEIGHT_DTYPES:
        raise KinemaError(f"dtype must be one of {', '.join(WEIGHT_DTYPES)}, got '{dtype}'")
    folder = resolve_checkpoint(Path(source))
    config = load_config(folder)  # refuses a folder that is not a checkpoint
    if not config.latent_std:
        raise KinemaError(f"'{folder}' has no latent statistics: is its transformer trained?")
    if sample_steps is not None:
        if sample_steps < 1:
            raise KinemaError(f"sampling steps must be at least 1, got {sample_steps}")
        config = replace(config, flow=replace(config.flow, sample_steps=sample_steps))
    run_cfg = run_world(Path(source))
    card = Path(out) / MODEL_CARD
    card_text = card.read_text() if card.is_file() else None
    with atomic_directory(Path(out)) as staging:
        save_config(staging, config)
        for file in WEIGHT_FILES.values():
            if not (folder / file).is_file():
                continue
            tensors = {
                name: tensor.to(WEIGHT_DTYPES[dtype]) if tensor.is_floating_point() else tensor
                for name, tensor in load_file(str(folder / file)).items()
            }
            metadata = {"source": f"{folder.parent.name}/{folder.name}", "dtype": dtype}
            save_file(tensors, str(staging / file), metadata=metadata)
        if run_cfg is not None:
            save_json(run_cfg, staging / RUN_CONFIG_FILE)
        record = run_file(Path(source), STARTED_FROM_FILE)
        if record is not None:  # a model trained in phases: the earlier ones
            shutil.copyfile(record, staging / STARTED_FROM_FILE)
        if card_text is not None:
            (staging / MODEL_CARD).write_text(card_text)
        sizes = {child.name: child.stat().st_size for child in staging.iterdir()}
    return sizes


def describe_sizes(sizes: dict[str, int]) -> str:
    total = sum(sizes.values())
    parts = ", ".join(f"{name} {size / 1e6:.2f} MB" for name, size in sorted(sizes.items()))
    return f"{total / 1e6:.2f} MB in all ({parts})"
