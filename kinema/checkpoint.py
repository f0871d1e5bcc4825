"""Checkpoint directories: config.json + safetensors weights (+ training state).

A checkpoint is a folder; a run folder (written by `kinema train --out`) holds numbered
checkpoints per stage, and "the latest checkpoint" of a run is its newest transformer
checkpoint. Writes are atomic: a checkpoint is built in a temporary sibling folder, synced,
then renamed into place, so a killed run never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from kinema.config import ModelConfig, from_dict, to_dict
from kinema.errors import KinemaError

CONFIG_FILE = "config.json"
TRAIN_STATE_FILE = "train_state.pt"  # a single process's training state
SHARDED_STATE_DIR = "train_state"  # a multi-rank run's: torch.distributed.checkpoint shards
WEIGHT_FILES = {
    "autoencoder": "autoencoder.safetensors",
    "transformer": "transformer.safetensors",
    "text_encoder": "text_encoder.safetensors",
}
_STEP_DIR = re.compile(r"^step-(\d+)$")


def step_dir_name(step: int) -> str:
    return f"step-{step:08d}"


def list_checkpoints(stage_dir: Path) -> list[tuple[int, Path]]:
    """Finished checkpoints of one stage folder, oldest first."""
    if not Path(stage_dir).is_dir():
        return []
    found = []
    for child in Path(stage_dir).iterdir():
        match = _STEP_DIR.match(child.name)
        if match and (child / CONFIG_FILE).is_file():
            found.append((int(match.group(1)), child))
    return sorted(found)


def latest_checkpoint(stage_dir: Path) -> Path | None:
    found = list_checkpoints(stage_dir)
    return found[-1][1] if found else None


def _fsync_tree(path: Path) -> None:
    for child in path.iterdir():
        if child.is_file():
            with open(child, "rb") as handle:
                os.fsync(handle.fileno())


@contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces `final` in one rename.

    An older `final` is first renamed aside, so at every moment one complete folder exists
    under one of the two names; temporaries left by a killed writer are removed here.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    for leftover in final.parent.glob(f".{final.name}.*-*"):  # from killed writers
        shutil.rmtree(leftover, ignore_errors=True)
    temporary = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    temporary.mkdir()
    replaced = final.with_name(f".{final.name}.old-{os.getpid()}")
    try:
        yield temporary
        _fsync_tree(temporary)
        if final.exists():
            os.replace(final, replaced)
        os.replace(temporary, final)
        directory = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
        shutil.rmtree(replaced, ignore_errors=True)


def prune_checkpoints(stage_dir: Path, keep_last: int) -> None:
    for _, path in list_checkpoints(stage_dir)[:-keep_last]:
        shutil.rmtree(path, ignore_errors=True)


def _state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    return {name: t.detach().contiguous().cpu() for name, t in module.state_dict().items()}


def save_config(folder: Path, config: ModelConfig) -> None:
    (Path(folder) / CONFIG_FILE).write_text(json.dumps(to_dict(config), indent=2) + "\n")


def save_weights(folder: Path, config: ModelConfig, modules: dict[str, nn.Module]) -> None:
    """Write config.json and one safetensors file per named module into `folder`."""
    save_config(folder, config)
    for name, module in modules.items():
        save_file(_state_dict(module), str(folder / WEIGHT_FILES[name]))


def load_config(folder: Path) -> ModelConfig:
    path = Path(folder) / CONFIG_FILE
    try:
        return from_dict(ModelConfig, json.loads(path.read_text()))
    except FileNotFoundError as error:
        raise KinemaError(f"checkpoint '{folder}' has no {CONFIG_FILE}") from error
    except (json.JSONDecodeError, TypeError, ValueError) as error:
        raise KinemaError(f"checkpoint '{folder}' has a corrupt {CONFIG_FILE}: {error}") from error


def load_weights(folder: Path, name: str, module: nn.Module) -> None:
    """Load one module's safetensors file strictly; a bad file is a one-line error."""
    path = Path(folder) / WEIGHT_FILES[name]
    if not path.is_file():
        raise KinemaError(f"checkpoint '{folder}' has no {path.name}")
    try:
        module.load_state_dict(load_file(str(path)))
    except (SafetensorError, RuntimeError, OSError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
        raise KinemaError(f"checkpoint file '{path}' is corrupt: {first_line}") from error


def resolve_checkpoint(path: Path) -> Path:
    """A checkpoint folder, or a run folder meaning its latest transformer checkpoint."""
    path = Path(path)
    if not path.exists():
        raise KinemaError(f"checkpoint '{path}' does not exist")
    if not path.is_dir():
        raise KinemaError(f"checkpoint '{path}' is not a folder")
    if (path / WEIGHT_FILES["transformer"]).exists() or (path / CONFIG_FILE).exists():
        return path
    latest = latest_checkpoint(path / "transformer")
    if latest is None:
        raise KinemaError(
            f"no checkpoint in '{path}': expected {CONFIG_FILE} with "
            f"{WEIGHT_FILES['transformer']}, or a run folder with transformer/step-* inside"
        )
    return latest
