"""Apply activation checkpointing, torch.compile and FSDP2 to an unmodified model, in place.

Each repeated block becomes one FSDP unit (its weights are gathered just before it runs and
freed after), then the model itself takes the remaining weights, as torchtitan does. The
model keeps its class, attribute names and state-dict keys, so the same loss function and
the same checkpoint code drive it sharded or not.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
from torch.utils.checkpoint import checkpoint

from kinema.config import ParallelConfig
from kinema.train.blocks import repeated_blocks


def parallelize(model: nn.Module, mesh: DeviceMesh, cfg: ParallelConfig) -> nn.Module:
    """Shard (fsdp) or replicate (ddp, a 2-D mesh) `model` over `mesh`; returns it."""
    blocks = repeated_blocks(model)
    for block in blocks:
        if cfg.activation_checkpointing:
            recompute_in_backward(block)
        if cfg.compile:
            block.compile()
    param_dtype = compute_dtype(cfg, mesh.device_type)
    block_policy = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=torch.float32)
    # The model's outputs go to the loss: give them back in float32.
    root_policy = MixedPrecisionPolicy(
        param_dtype=param_dtype, reduce_dtype=torch.float32, output_dtype=torch.float32
    )
    for block in blocks:
        fully_shard(block, mesh=mesh, mp_policy=block_policy)
    fully_shard(model, mesh=mesh, mp_policy=root_policy)
    return model


def compute_dtype(cfg: ParallelConfig, device_type: str) -> torch.dtype:
    """bf16 on GPU unless told otherwise; weights and optimizer state stay float32."""
    if cfg.precision == "bf16" or (cfg.precision == "auto" and device_type == "cuda"):
        return torch.bfloat16
    return torch.float32


def recompute_in_backward(block: nn.Module) -> None:
    """Keep only the block's inputs in forward; recompute its activations in backward."""
    forward = block.forward

    def checkpointed_forward(*args: Any, **kwargs: Any) -> Any:
        return checkpoint(forward, *args, use_reentrant=False, **kwargs)

    block.forward = checkpointed_forward  # an instance attribute: the class is untouched
