"""Joining a torchrun launch: the process group, this rank's device, rank-0 helpers."""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist

from kinema.errors import KinemaError

T = TypeVar("T")
TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class Runtime:
    """This process's place in the launch."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0 writes files, logs and progress bars; the others compute alongside."""
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return all(name in os.environ for name in TORCHRUN_VARIABLES)


def is_main_process() -> bool:
    """Rank 0 of a launch, or a plain process."""
    return int(os.environ.get("RANK", "0")) == 0


def start(device: str | None = None) -> Runtime:
    """Join the launch's process group: NCCL for GPUs (gloo beside it for CPU tensors), gloo
    on CPU. Each rank takes the GPU of its local rank; `device` "cpu" forces CPU."""
    if not launched_by_torchrun():
        raise KinemaError(
            "not started by torchrun: launch with `torchrun --nproc_per_node=N -m …` "
            "or `kinema train --nproc N`"
        )
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ["LOCAL_RANK"])
    use_gpu = torch.cuda.is_available() if device is None else device.startswith("cuda")
    if use_gpu and not torch.cuda.is_available():
        raise KinemaError(f"device '{device}' was asked for but no CUDA GPU is available")
    if use_gpu:
        if local_rank >= torch.cuda.device_count():
            raise KinemaError(
                f"local rank {local_rank} has no GPU: this node has {torch.cuda.device_count()}"
            )
        target = torch.device("cuda", local_rank)
        torch.cuda.set_device(target)
        backend = "cpu:gloo,cuda:nccl"
    else:
        target, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend)
        atexit.register(stop)
    return Runtime(rank, world_size, local_rank, target)


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def from_rank_zero(work: Callable[[], T]) -> T:
    """Run `work` on rank 0 only; every rank returns its result, or raises its KinemaError.

    For work that must happen once (creating a run folder) and whose outcome all ranks need.
    """
    outcome: list[object] = [None]
    if dist.get_rank() == 0:
        try:
            outcome = [("done", work())]
        except KinemaError as error:
            outcome = [("error", str(error))]
    dist.broadcast_object_list(outcome, src=0)
    kind, value = outcome[0]  # type: ignore[misc]
    if kind == "error":
        raise KinemaError(value)
    return value
