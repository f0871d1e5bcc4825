"""How the ranks of a launch divide a stage's work, as device meshes.

The ranks form a (data, sequence) grid. Ranks in one row of the grid (a data-parallel group)
take the same rows of the global batch and split each sample's tokens among themselves
(sequence parallelism, transformer stage only); different groups take different rows.
Gradients are averaged over every rank, so weights are sharded (FSDP) or replicated (DDP)
over all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch.distributed import ProcessGroup
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh

from kinema.config import ParallelConfig, TrainConfig
from kinema.errors import KinemaError

DATA_PARALLEL_KINDS = ("fsdp", "ddp")
PRECISIONS = ("auto", "bf16", "fp32")


@dataclass(frozen=True)
class Layout:
    """One stage's split of the ranks."""

    batch_mesh: DeviceMesh  # ("data", "sequence"): who takes which rows and which tokens
    weight_mesh: DeviceMesh  # what fully_shard shards and replicates the weights over

    @property
    def data_parallel(self) -> int:
        return self.batch_mesh.size(0)

    @property
    def sequence_parallel(self) -> int:
        return self.batch_mesh.size(1)

    @property
    def data_rank(self) -> int:
        """Which data-parallel group this rank belongs to (the rows it takes)."""
        return self.batch_mesh.get_local_rank("data")

    @property
    def sequence_group(self) -> ProcessGroup:
        return self.batch_mesh.get_group("sequence")


def build_layout(device_type: str, world_size: int, cfg: ParallelConfig, sequence: int) -> Layout:
    """Meshes for `sequence` ranks per sample (1 for a stage without sequence parallelism).

    FSDP shards weights over all ranks (a 1-D mesh). DDP is FSDP2's hybrid mode with shards of
    one rank: weights replicated everywhere, gradients all-reduced, one code path for both.
    """
    batch_mesh = init_device_mesh(
        device_type, (world_size // sequence, sequence), mesh_dim_names=("data", "sequence")
    )
    if cfg.data_parallel == "fsdp":
        weight_mesh = init_device_mesh(device_type, (world_size,), mesh_dim_names=("shard",))
    else:
        weight_mesh = init_device_mesh(
            device_type, (world_size, 1), mesh_dim_names=("replicate", "shard")
        )
    return Layout(batch_mesh, weight_mesh)


def check_parallel(cfg: TrainConfig, world_size: int) -> None:
    """Refuse settings the launch cannot honour, naming the rule, before any work."""
    parallel = cfg.parallel
    if parallel.data_parallel not in DATA_PARALLEL_KINDS:
        raise KinemaError(
            f"data_parallel must be one of {', '.join(DATA_PARALLEL_KINDS)}, "
            f"got '{parallel.data_parallel}'"
        )
    if parallel.precision not in PRECISIONS:
        raise KinemaError(
            f"precision must be one of {', '.join(PRECISIONS)}, got '{parallel.precision}'"
        )
    if parallel.grad_accumulation < 1:
        raise KinemaError(f"grad_accumulation must be at least 1, got {parallel.grad_accumulation}")
    sequence = parallel.sequence_parallel
    if sequence < 1 or world_size % sequence:
        raise KinemaError(
            f"sequence_parallel ({sequence}) must divide the number of ranks ({world_size})"
        )
    heads = cfg.model.transformer.num_heads
    if heads % sequence:
        raise KinemaError(
            f"sequence_parallel ({sequence}) must divide the transformer's heads ({heads}): "
            "each rank attends with heads / sequence_parallel of them"
        )
    stages = (
        ("autoencoder", cfg.autoencoder_stage.batch_size, world_size),
        ("transformer", cfg.transformer_stage.batch_size, world_size // sequence),
    )
    for name, batch_size, groups in stages:
        parts = groups * parallel.grad_accumulation
        if batch_size % parts:
            raise KinemaError(
                f"the {name} stage's batch of {batch_size} cannot be split into {parts} equal "
                f"parts ({groups} data-parallel groups × {parallel.grad_accumulation} "
                "micro-batches); choose a batch size, rank count or accumulation that divides"
            )
