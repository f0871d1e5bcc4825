"""Checks that need several ranks at once, run by tests/test_distributed.py under torchrun.

    torchrun --standalone --nproc_per_node=2 tests/distributed_checks.py OUT

Each rank writes OUT/rank-<r>.json; the tests read and judge them.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributed.device_mesh import init_device_mesh

from kinema.config import ParallelConfig, StageConfig, TransformerConfig
from kinema.distributed.parallelize import parallelize
from kinema.distributed.runtime import Runtime, start
from kinema.distributed.sequence import UlyssesSplit
from kinema.distributed.train import SilentMetrics
from kinema.distributed.trainer import ShardedStageTrainer
from kinema.dit import DiffusionTransformer
from kinema.errors import KinemaError
from kinema.train.metrics import MetricsLog
from kinema.train.shards import WHOLE_BATCH, BatchShard
from kinema.train.stage import MAX_NONFINITE_STEPS, Stage


def largest_difference(a: Tensor, b: Tensor) -> float:
    return float((a - b).detach().abs().max())


def attention_check(split: UlyssesSplit) -> dict[str, float]:
    """Ulysses attention of the local tokens against plain SDPA over all tokens, both ways."""
    generator = torch.Generator().manual_seed(0)  # the same tensors on every rank
    q, k, v, weight = (torch.randn(2, 4, 8, 16, generator=generator) for _ in range(4))
    whole = [t.clone().requires_grad_() for t in (q, k, v)]
    reference = F.scaled_dot_product_attention(*whole)  # (B, H, N, hd)
    (reference * weight).sum().backward()
    local = [split.shard(t, dim=2).clone().requires_grad_() for t in (q, k, v)]
    out = split.attention(*local)  # (B, H, N/P, hd)
    (out * split.shard(weight, dim=2)).sum().backward()
    return {
        "output": largest_difference(out, split.shard(reference, dim=2)),
        "gradient": max(
            largest_difference(mine.grad, split.shard(full.grad, dim=2))
            for mine, full in zip(local, whole, strict=True)
        ),
        "scale": float(reference.abs().max()),
    }


def transformer_check(split: UlyssesSplit) -> dict[str, float]:
    """A whole DiT forward and backward with split tokens against one rank's."""
    torch.manual_seed(0)
    cfg = TransformerConfig(hidden_size=32, depth=2, num_heads=4, context_dim=16)
    model = DiffusionTransformer(cfg)
    for parameter in model.parameters():  # non-zero everywhere, so every path is exercised
        nn.init.normal_(parameter, std=0.2)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 2, 4, 4, generator=generator)  # (B, C, T, H, W): 2·2·2 = 8 tokens
    t = torch.rand(2, 2, generator=generator)  # per-frame times: (B, T)
    context = torch.randn(2, 5, 16, generator=generator)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    weight = torch.randn(x.shape, generator=generator)

    reference = model(x, t, context, mask)
    (reference * weight).sum().backward()
    expected = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    model.split_sequence(split)
    out = model(x, t, context, mask)
    (out * weight).sum().backward()
    worst = 0.0
    for name, p in model.named_parameters():
        grad = p.grad.clone()
        dist.all_reduce(grad)  # each rank holds its tokens' share, counted once per rank
        worst = max(worst, largest_difference(grad / split.size, expected[name]))
    return {"output": largest_difference(out, reference), "gradient": worst}


def checkpointing_check(runtime: Runtime) -> dict[str, float]:
    """FSDP2 over every rank with activation checkpointing, each rank on the same batch:
    the plain model's output and gradients (FSDP averages gradients over ranks)."""
    torch.manual_seed(0)
    cfg = TransformerConfig(hidden_size=32, depth=2, num_heads=4, context_dim=16)
    reference = DiffusionTransformer(cfg)
    for parameter in reference.parameters():
        nn.init.normal_(parameter, std=0.2)
    sharded = copy.deepcopy(reference)
    mesh = init_device_mesh("cpu", (runtime.world_size,))
    parallelize(sharded, mesh, ParallelConfig(activation_checkpointing=True))
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(2, 4, 2, 4, 4, generator=generator)
    t = torch.rand(2, generator=generator)
    context = torch.randn(2, 5, 16, generator=generator)
    weight = torch.randn(x.shape, generator=generator)
    expected = reference(x, t, context)
    (expected * weight).sum().backward()
    out = sharded(x, t, context)
    (out * weight).sum().backward()
    worst = max(
        largest_difference(mine.grad.full_tensor(), plain.grad)
        for mine, plain in zip(sharded.parameters(), reference.parameters(), strict=True)
    )
    shards = [p.to_local().numel() for p in sharded.parameters()]
    return {
        "output": largest_difference(out, expected),
        "gradient": worst,
        "local_share": sum(shards) / sum(p.numel() for p in reference.parameters()),
    }


def nonfinite_check(folder: Path, runtime: Runtime) -> dict[str, object]:
    """Non-finite values on rank 1 only: every rank skips the same steps, then all stop."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 1))
    inputs = torch.randn(4, 4)
    bad_loss = {1, 3}  # on rank 1 only
    bad_gradient = {4}

    def loss_fn(step: int, shard: BatchShard = WHOLE_BATCH) -> dict[str, Tensor]:
        out = model(shard.take(inputs))
        loss = out.square().mean()
        if runtime.rank == 1 and (step in bad_loss or step >= 8):
            loss = loss * float("nan")
        if runtime.rank == 1 and step in bad_gradient:
            loss = loss + torch.sqrt(out * 0.0).sum()  # finite value, infinite gradient
        return {"loss": loss}

    def stage(steps: int) -> Stage:
        cfg = StageConfig(steps=steps, batch_size=4, warmup_steps=1, log_every=1)
        return Stage("toy", folder, cfg, {"toy": model}, loss_fn, lambda f, m: None, 4)

    metrics = MetricsLog(folder / "metrics.jsonl") if runtime.is_main else SilentMetrics()
    trainer = ShardedStageTrainer(stage(6), metrics, runtime, ParallelConfig())
    trainer.save = lambda: folder  # this check is about steps, not checkpoints
    trainer.train()
    result: dict[str, object] = {"skipped": trainer.nonfinite_steps}
    trainer.stage = stage(8 + MAX_NONFINITE_STEPS + 5)  # train on: rank 1 now always fails
    try:
        trainer.train()
        result["error"] = None
    except KinemaError as error:
        result["error"] = str(error)
    result["stopped_at"] = trainer.step
    return result


def main() -> None:
    out = Path(sys.argv[1])
    runtime = start("cpu")
    split = UlyssesSplit(dist.group.WORLD)
    results = {
        "attention": attention_check(split),
        "transformer": transformer_check(split),
        "nonfinite": nonfinite_check(out, runtime),
        "checkpointing": checkpointing_check(runtime),
    }
    (out / f"rank-{runtime.rank}.json").write_text(json.dumps(results))


if __name__ == "__main__":
    main()
