"""Both stages of a run on the ranks of a torchrun launch: `kinema.train.run.train`'s twin."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from kinema.checkpoint import step_dir_name
from kinema.config import TrainConfig
from kinema.distributed.mesh import check_parallel
from kinema.distributed.runtime import Runtime, from_rank_zero
from kinema.distributed.trainer import sharded_trainer_factory
from kinema.train.autoencoder_stage import autoencoder_stage
from kinema.train.latents import build_run_cache
from kinema.train.metrics import MetricsLog
from kinema.train.run import METRICS_FILE
from kinema.train.transformer_stage import transformer_stage


class SilentMetrics(MetricsLog):
    """The metrics log of ranks other than 0: rank 0 writes the run's one log."""

    def __init__(self) -> None:
        pass

    def write(self, record: dict[str, Any]) -> None:
        pass


def train_on_ranks(
    run: Path,
    prepare: Callable[[], TrainConfig],
    runtime: Runtime,
    parallel: dict[str, Any] | None = None,
) -> tuple[TrainConfig, Path]:
    """Prepare the run folder on rank 0 (`prepare`), then train both stages on every rank.

    `parallel` overrides fields of the run's ParallelConfig for this launch only: they change
    how the work is spread, never what a step computes. Returns (config, final checkpoint).
    """
    cfg = from_rank_zero(prepare)
    if parallel:
        cfg = replace(cfg, parallel=replace(cfg.parallel, **parallel))
    check_parallel(cfg, runtime.world_size)
    run = Path(run)
    metrics = MetricsLog(run / METRICS_FILE) if runtime.is_main else SilentMetrics()
    torch.manual_seed(cfg.seed)
    device = runtime.device
    stage1 = autoencoder_stage(
        cfg, run, device, metrics, sharded_trainer_factory(runtime, cfg.parallel, 1)
    )
    stage1.train()
    if cfg.data.cache:
        if runtime.is_main:
            build_run_cache(run, cfg, device)
        dist.barrier()
    sequence = cfg.parallel.sequence_parallel
    stage2 = transformer_stage(
        cfg, run, device, metrics, sharded_trainer_factory(runtime, cfg.parallel, sequence)
    )
    stage2.train()
    return cfg, stage2.stage.folder / step_dir_name(stage2.step)
