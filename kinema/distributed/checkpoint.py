"""Training state in torch.distributed.checkpoint (DCP) format, resharded on load.

Besides its inference weights (config.json + safetensors, written whole by rank 0), a
checkpoint of a multi-rank run holds

    train_state/   DCP shards: trained modules, optimizer moments, EMA weights; every rank
                   writes its own shards in parallel
    trainer.json   step, skipped steps, learning-rate schedule, optimizer hyperparameters

Keys are parameter names under the module's name in its stage ("transformer.blocks.0…"),
whatever the sharding, so a state saved on P ranks loads on any number of ranks, or into a
plain process with no process group at all. DCP stores its index with pickle: resume only
runs you trust (inference weights are safetensors and never need it).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch import Tensor, nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
    set_state_dict,
)
from torch.distributed.tensor import DTensor, distribute_tensor

from kinema.checkpoint import SHARDED_STATE_DIR, TRAIN_STATE_FILE, atomic_directory

if TYPE_CHECKING:
    from kinema.train.stage import StageTrainer

TRAINER_FILE = "trainer.json"


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def _is_main() -> bool:
    return not _distributed() or dist.get_rank() == 0


@contextmanager
def _one_process_is_intended() -> Iterator[None]:
    """DCP warns whenever it runs without a process group; in one process that is the plan."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        yield


def _tensors(trainer: StageTrainer) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The trainer's tensors by name, and its optimizer's parameter groups."""
    root = nn.ModuleDict(trainer.stage.modules)  # one name space: "<module name>.<parameter>"
    modules, optimizer = get_state_dict(root, trainer.optimizer)
    ema = trainer.ema.state_dict() if trainer.ema else {}
    tensors = {"modules": modules, "optimizer": optimizer["state"], "ema": ema}
    return tensors, optimizer["param_groups"]


def save_sharded_state(folder: Path, trainer: StageTrainer) -> None:
    """Every rank writes its shards into folder/train_state; rank 0 writes trainer.json."""
    tensors, groups = _tensors(trainer)
    with _one_process_is_intended():
        dcp.save(tensors, checkpoint_id=folder / SHARDED_STATE_DIR, no_dist=not _distributed())
    if _is_main():
        record = {
            "step": trainer.step,
            "nonfinite_steps": trainer.nonfinite_steps,
            "scheduler": trainer.scheduler.state_dict(),
            "param_groups": groups,
        }
        (folder / TRAINER_FILE).write_text(json.dumps(record, indent=2) + "\n")


def load_sharded_state(folder: Path, trainer: StageTrainer) -> tuple[int, int]:
    """Load a DCP training state into the trainer, however its modules are sharded now.

    Returns (step, skipped steps)."""
    tensors, _ = _tensors(trainer)  # the layout to fill: this run's shards
    with _one_process_is_intended():
        dcp.load(tensors, checkpoint_id=folder / SHARDED_STATE_DIR, no_dist=not _distributed())
    record = json.loads((folder / TRAINER_FILE).read_text())
    set_state_dict(
        nn.ModuleDict(trainer.stage.modules),
        trainer.optimizer,
        model_state_dict=tensors["modules"],
        optim_state_dict={"state": tensors["optimizer"], "param_groups": record["param_groups"]},
    )
    if trainer.ema:
        trainer.ema.load_state_dict(tensors["ema"])
    trainer.scheduler.load_state_dict(record["scheduler"])
    return int(record["step"]), int(record["nonfinite_steps"])


def load_whole_state(folder: Path, trainer: StageTrainer) -> tuple[int, int]:
    """Load a single process's train_state.pt into sharded modules: every rank reads the whole
    file and keeps its own shards. Returns (step, skipped steps)."""
    state = torch.load(folder / TRAIN_STATE_FILE, map_location="cpu", weights_only=True)
    root = nn.ModuleDict(trainer.stage.modules)
    whole = StateDictOptions(full_state_dict=True)
    weights = {
        f"{name}.{key}": value
        for name, module_state in state["modules"].items()
        for key, value in module_state.items()
    }
    set_model_state_dict(root, weights, options=whole)
    optimizer_state = _by_name(state["optimizer"], root, trainer.optimizer)
    set_optimizer_state_dict(root, trainer.optimizer, optimizer_state, options=whole)
    trainer.scheduler.load_state_dict(state["scheduler"])
    if trainer.ema and state["ema"] is not None:
        for key, value in state["ema"].items():
            shadow = trainer.ema.shadow[key]
            shadow.copy_(like(shadow, value))
    return int(state["step"]), int(state["nonfinite_steps"])


def _by_name(saved: dict, root: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """A `torch.optim` state dict keyed by parameter numbers -> keyed by parameter names.

    Both optimizers were built by `make_optimizer` over the same modules, so their groups
    list the same parameters in the same order."""
    names = {id(p): name for name, p in root.named_parameters()}
    number_to_name = {}
    for saved_group, group in zip(saved["param_groups"], optimizer.param_groups, strict=True):
        for number, parameter in zip(saved_group["params"], group["params"], strict=True):
            number_to_name[number] = names[id(parameter)]
    return {
        "state": {number_to_name[n]: value for n, value in saved["state"].items()},
        "param_groups": [
            {**group, "params": [number_to_name[n] for n in group["params"]]}
            for group in saved["param_groups"]
        ],
    }


def like(target: Tensor, whole: Tensor) -> Tensor:
    """A whole tensor laid out as `target` is: this rank's shard of it for a DTensor."""
    whole = whole.to(device=target.device, dtype=target.dtype)
    if isinstance(target, DTensor):
        # Every rank holds `whole`, so each cuts its own shard: no communication.
        return distribute_tensor(whole, target.device_mesh, target.placements, src_data_rank=None)
    return whole


def whole(tensor: Tensor) -> Tensor:
    """The whole value of a (possibly sharded) tensor on every rank, on the CPU."""
    if isinstance(tensor, DTensor):
        tensor = tensor.full_tensor()
    return tensor.detach().cpu()


def whole_weights(module: nn.Module) -> dict[str, Tensor]:
    """The module's whole state dict on rank 0 (CPU), {} on the other ranks; collective."""
    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_model_state_dict(module, options=options)


@contextmanager
def shared_atomic_directory(final: Path) -> Iterator[Path]:
    """`atomic_directory` written by all ranks: rank 0 makes the temporary folder, every rank
    writes into it, and rank 0 renames it into place once all have finished."""
    main = dist.get_rank() == 0
    with atomic_directory(final) if main else nullcontext() as temporary:
        shared: list[str | None] = [str(temporary) if main else None]
        dist.broadcast_object_list(shared, src=0)
        yield Path(str(shared[0]))
        dist.barrier()  # every rank's shards are on disk before the rename
    dist.barrier()  # and the rename is done before any rank reads the folder
