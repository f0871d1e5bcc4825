"""The shared training loop (kinema.train.stage) run by every rank of a launch.

Each step's global batch is cut into (data-parallel groups × micro-batches) equal shards of
rows; the ranks of group g compute shards g·A … g·A + A − 1, one per micro-batch (A of
them), splitting each sample's tokens among themselves. Each shard's loss is a mean over
its rows, so backward on loss / A, with gradients averaged over all ranks by FSDP, gives
the gradient of the mean over the global batch: the same step as one process on the whole
batch, in float tolerance.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch
import torch.distributed as dist
from torch import Tensor, nn

from kinema.checkpoint import (
    SHARDED_STATE_DIR,
    latest_checkpoint,
    prune_checkpoints,
    step_dir_name,
)
from kinema.config import ParallelConfig
from kinema.distributed.checkpoint import (
    load_sharded_state,
    load_whole_state,
    save_sharded_state,
    shared_atomic_directory,
    whole,
    whole_weights,
)
from kinema.distributed.mesh import build_layout
from kinema.distributed.parallelize import parallelize
from kinema.distributed.runtime import Runtime
from kinema.distributed.sequence import UlyssesSplit
from kinema.errors import KinemaError
from kinema.train.metrics import MetricsLog
from kinema.train.shards import BatchShard
from kinema.train.stage import Stage, StageTrainer


class ShardedStageTrainer(StageTrainer):
    """A `StageTrainer` whose modules are sharded over the ranks of a launch.

    Checkpoints: every rank writes its shards (DCP), rank 0 the whole inference weights;
    a run resumes on any number of ranks, or in one plain process.
    """

    def __init__(
        self,
        stage: Stage,
        metrics: MetricsLog,
        runtime: Runtime,
        parallel: ParallelConfig,
        sequence_parallel: int = 1,
    ) -> None:
        self.runtime = runtime
        self.parallel = parallel
        self.layout = build_layout(
            runtime.device.type, runtime.world_size, parallel, sequence_parallel
        )
        # Whole copies for inference are rebuilt from these weightless templates on rank 0.
        self.templates = {name: _meta_copy(m) for name, m in stage.modules.items()}
        for module in stage.modules.values():
            if self.layout.sequence_parallel > 1 and hasattr(module, "split_sequence"):
                module.split_sequence(UlyssesSplit(self.layout.sequence_group))
            parallelize(module, self.layout.weight_mesh, parallel)
        if not runtime.is_main and stage.sample_fn is not None:
            # Gathering the weights for samples is collective; only rank 0 writes the videos.
            stage = replace(stage, sample_fn=lambda step, modules: None)
        super().__init__(stage, metrics)  # the optimizer and EMA over the sharded weights
        self.show_progress = runtime.is_main

    # --- state ---------------------------------------------------------------------------

    def resume(self) -> bool:
        folder = latest_checkpoint(self.stage.folder)
        if folder is None:
            return False
        if (folder / SHARDED_STATE_DIR).is_dir():
            self.step, self.nonfinite_steps = load_sharded_state(folder, self)
        else:  # a single process's checkpoint: moving a run onto more ranks
            self.step, self.nonfinite_steps = load_whole_state(folder, self)
        return True

    def inference_modules(self) -> dict[str, nn.Module]:
        """Whole copies of the weights to ship (EMA where on) on rank 0; {} on the others.

        Collective: every rank must call it."""
        copies = {}
        for name, module in self.stage.modules.items():
            weights = whole_weights(module)
            if self.ema:  # the averaged weights replace the trained ones
                for key, _ in module.named_parameters():
                    average = whole(self.ema.shadow[f"{name}.{key}"])  # collective
                    if self.runtime.is_main:
                        weights[key] = average
            if self.runtime.is_main:
                replica = copy.deepcopy(self.templates[name]).to_empty(device=self.runtime.device)
                replica.load_state_dict(weights)
                copies[name] = replica.train(module.training)
        return copies

    def save(self) -> Path:
        final = self.stage.folder / step_dir_name(self.step)
        with shared_atomic_directory(final) as folder:
            save_sharded_state(folder, self)
            modules = self.inference_modules()
            if self.runtime.is_main:
                self.stage.save_fn(folder, modules)
        if self.runtime.is_main:
            prune_checkpoints(self.stage.folder, self.stage.cfg.keep_last)
        dist.barrier()
        return final

    # --- one step ------------------------------------------------------------------------

    def _train_step(self) -> tuple[dict[str, Tensor], float]:
        micro_batches = self.parallel.grad_accumulation
        parts = self.layout.data_parallel * micro_batches
        first = self.layout.data_rank * micro_batches
        self.optimizer.zero_grad(set_to_none=True)
        totals: dict[str, Tensor] = {}
        for micro in range(micro_batches):
            losses = self.stage.loss_fn(self.step, BatchShard(first + micro, parts))
            means = self._mean_over_ranks(losses)
            for key, value in means.items():
                totals[key] = totals.get(key, torch.zeros(())) + value / micro_batches
            if not torch.isfinite(means["loss"]):  # the same verdict on every rank
                self.optimizer.zero_grad(set_to_none=True)
                return totals, self._skip("loss")
            (losses["loss"] / micro_batches).backward()
        norm = torch.nn.utils.clip_grad_norm_(self.parameters, self.stage.cfg.grad_clip)
        norm = whole(norm)  # the norm of all gradients, the same on every rank
        if not torch.isfinite(norm):
            self.optimizer.zero_grad(set_to_none=True)
            return totals, self._skip("gradient")
        self.optimizer.step()
        self.scheduler.step()
        if self.ema:
            self.ema.update(self.stage.modules, self.step)
        return totals, float(norm)

    def _mean_over_ranks(self, losses: dict[str, Tensor]) -> dict[str, Tensor]:
        """Each metric averaged over all ranks (ranks sharing a sample hold equal values)."""
        keys = sorted(losses)
        values = torch.stack([losses[key].detach().float() for key in keys])
        dist.all_reduce(values)
        values = (values / self.runtime.world_size).cpu()
        return dict(zip(keys, values, strict=True))


def _meta_copy(module: nn.Module) -> nn.Module:
    """A copy of `module` whose tensors live on the meta device (no memory, no data)."""
    persistent = set(module.state_dict())
    for name, _ in module.named_buffers():
        if name not in persistent:
            raise KinemaError(
                f"{type(module).__name__} has a non-persistent buffer '{name}', which whole "
                "inference copies could not restore"
            )
    memo: dict[int, object] = {}
    for parameter in module.parameters():
        memo[id(parameter)] = nn.Parameter(
            torch.empty_like(parameter, device="meta"), parameter.requires_grad
        )
    for buffer in module.buffers():
        memo[id(buffer)] = torch.empty_like(buffer, device="meta")
    return copy.deepcopy(module, memo)


def sharded_trainer_factory(
    runtime: Runtime, parallel: ParallelConfig, sequence_parallel: int
) -> Callable[[Stage, MetricsLog], StageTrainer]:
    """What a stage builder calls instead of `StageTrainer(stage, metrics)`."""

    def make(stage: Stage, metrics: MetricsLog) -> StageTrainer:
        return ShardedStageTrainer(stage, metrics, runtime, parallel, sequence_parallel)

    return make
