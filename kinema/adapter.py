"""LoRA adapter folders: a transformer's adapters, kept apart from the base checkpoint.

An adapter folder holds `adapter.safetensors` (the low-rank tensors, with their LoRA
settings in its metadata), `adapter.json` (the settings again, and the base checkpoint
it was trained on: its path and the SHA-256 of each weight file) and the base's
`config.json` (what a checkpoint folder is recognised by, and the model it adapts). An
adapter only makes sense on its own base, so loading it on any other checkpoint is
refused. A fine-tuning folder (`kinema finetune --lora-rank R --out DIR`) names its newest
adapter, as a run folder names its newest checkpoint.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kinema.checkpoint import (
    WEIGHT_FILES,
    atomic_directory,
    latest_checkpoint,
    resolve_checkpoint,
    save_weights,
)
from kinema.errors import KinemaError
from kinema.hashing import sha256_of
from kinema.lora import LoRAConfig, load_lora, merge_lora, save_lora
from kinema.model import KinemaModel, load_model
from kinema.text import is_trainable

ADAPTER_FILE = "adapter.safetensors"
ADAPTER_INFO = "adapter.json"
LORA_STAGE = "lora"  # DIR/lora/step-XXXXXXXX/ in a LoRA fine-tuning folder


def checkpoint_identity(folder: Path) -> dict[str, Any]:
    """What an adapter records of its base: the folder, and a digest of each weight file."""
    folder = Path(folder).resolve()
    digests = {
        name: sha256_of(folder / name)
        for name in WEIGHT_FILES.values()
        if (folder / name).is_file()
    }
    return {"path": str(folder), "sha256": digests}


def save_adapter(folder: Path, model: KinemaModel, cfg: LoRAConfig, base: dict[str, Any]) -> None:
    """Write the adapters of a model's adapted transformer, and their description."""
    save_weights(folder, model.config, {})
    save_lora(folder / ADAPTER_FILE, model.transformer, cfg)
    info = {"lora": asdict(cfg), "base": base}
    (folder / ADAPTER_INFO).write_text(json.dumps(info, indent=2) + "\n")


def resolve_adapter(path: Path) -> Path:
    """An adapter folder, or a LoRA fine-tuning folder meaning its newest adapter."""
    path = Path(path)
    if not path.is_dir():
        raise KinemaError(f"LoRA adapter '{path}' does not exist or is not a folder")
    if (path / ADAPTER_INFO).is_file():
        return path
    latest = latest_checkpoint(path / LORA_STAGE)
    if latest is None or not (latest / ADAPTER_INFO).is_file():
        raise KinemaError(
            f"no LoRA adapter in '{path}': expected {ADAPTER_INFO} with {ADAPTER_FILE}, "
            f"or a fine-tuning folder with {LORA_STAGE}/step-* inside"
        )
    return latest


def check_base(adapter: Path, base: Path) -> None:
    """Refuse an adapter trained on another base checkpoint than `base`."""
    try:
        recorded = json.loads((adapter / ADAPTER_INFO).read_text())["base"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise KinemaError(f"adapter '{adapter}' has a corrupt {ADAPTER_INFO}") from error
    if recorded["sha256"] != checkpoint_identity(base)["sha256"]:
        raise KinemaError(
            f"adapter '{adapter}' was made for base checkpoint '{recorded['path']}', "
            f"not for '{base}' (their weights differ)"
        )


def load_with_adapter(
    checkpoint: Path, adapter: Path, device: torch.device | str = "cpu"
) -> KinemaModel:
    """A base checkpoint (or run folder) with a LoRA adapter on its transformer."""
    base = resolve_checkpoint(Path(checkpoint))
    folder = resolve_adapter(Path(adapter))
    check_base(folder, base)
    model = load_model(base, "cpu")
    load_lora(model.transformer, folder / ADAPTER_FILE)  # new tensors start on the CPU
    return model.to(device).eval()


def merge_adapter(checkpoint: Path, adapter: Path, out: Path) -> Path:
    """Write base + adapter as one ordinary checkpoint folder, adapters folded in."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise KinemaError(f"--out '{out}' already exists; choose a new folder")
    model = load_with_adapter(checkpoint, adapter)
    merge_lora(model.transformer)
    modules: dict[str, nn.Module] = {
        "autoencoder": model.autoencoder,
        "transformer": model.transformer,
    }
    if is_trainable(model.config.text):  # a frozen pretrained encoder loads from its own folder
        modules["text_encoder"] = model.text_encoder
    with atomic_directory(out) as folder:
        save_weights(folder, model.config, modules)
    return out
