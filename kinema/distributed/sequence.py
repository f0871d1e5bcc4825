"""Ulysses sequence parallelism: one sample's tokens split across the ranks of a group.

Each of P ranks holds N/P consecutive tokens of every sample. Everything in a DiT block but
self-attention works token by token, so it runs on the local tokens as is. For attention, an
all-to-all turns (all heads, local tokens) into (H/P heads, all tokens); each rank runs
ordinary attention over whole sequences for its heads, and a second all-to-all turns the
result back (DeepSpeed-Ulysses). The transformer's output is gathered whole at the end, so
its caller sees the same tensor as on one rank.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor
from torch.distributed import ProcessGroup

from kinema.errors import KinemaError


class UlyssesSplit:
    """A `kinema.dit.model.SequenceSplit` over the ranks of `group`."""

    def __init__(self, group: ProcessGroup) -> None:
        self.group = group
        self.size = dist.get_world_size(group)
        self.rank = dist.get_rank(group)

    def shard(self, x: Tensor, dim: int) -> Tensor:
        length = x.shape[dim]
        if length % self.size:
            raise KinemaError(
                f"{length} tokens cannot be split evenly over {self.size} sequence-parallel "
                f"ranks: choose a size whose token count is a multiple of {self.size}"
            )
        part = length // self.size
        return x.narrow(dim, self.rank * part, part)

    def gather(self, x: Tensor, dim: int) -> Tensor:
        return _GatherShards.apply(x, dim, self.group)

    def attention(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """q, k, v (B, H, N/P, hd) for the local tokens -> (B, H, N/P, hd)."""
        heads = q.shape[1]
        if heads % self.size:
            raise KinemaError(
                f"{heads} attention heads cannot be split over {self.size} sequence-parallel ranks"
            )
        p, h = self.size, heads // self.size
        batch, _, tokens, head_dim = q.shape
        qkv = torch.stack([q, k, v])  # (3, B, H, n, hd), n = N/P
        # (3, B, P·h, n, hd) -> (P, 3, B, h, n, hd): slot s holds the heads rank s will attend
        qkv = qkv.view(3, batch, p, h, tokens, head_dim).permute(2, 0, 1, 3, 4, 5)
        qkv = _AllToAll.apply(qkv, self.group)  # slot s now holds rank s's tokens, our heads
        # (P, 3, B, h, n, hd) -> (3, B, h, P·n, hd): whole sequences, in token order
        qkv = qkv.permute(1, 2, 3, 0, 4, 5).reshape(3, batch, h, p * tokens, head_dim)
        out = F.scaled_dot_product_attention(*qkv.unbind(0))  # (B, h, N, hd)
        # (B, h, P·n, hd) -> (P, B, h, n, hd): slot s holds the tokens rank s keeps
        out = out.view(batch, h, p, tokens, head_dim).permute(2, 0, 1, 3, 4)
        out = _AllToAll.apply(out, self.group)  # slot s now holds rank s's heads, our tokens
        # (P, B, h, n, hd) -> (B, P·h, n, hd) = (B, H, n, hd)
        return out.permute(1, 0, 2, 3, 4).reshape(batch, heads, tokens, head_dim)


def _exchange(x: Tensor, group: ProcessGroup) -> Tensor:
    """(P, …): send slot s to rank s; slot s of the result came from rank s."""
    x = x.contiguous()
    out = torch.empty_like(x)
    dist.all_to_all_single(out, x, group=group)
    return out


class _AllToAll(torch.autograd.Function):
    """`_exchange` is its own adjoint: gradients go back along the same routes."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, group: ProcessGroup) -> Tensor:
        ctx.group = group
        return _exchange(x, group)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return _exchange(grad, ctx.group), None


class _GatherShards(torch.autograd.Function):
    """Concatenate every rank's shard along `dim`. Every rank's loss may depend on every
    shard, so a shard's gradient is the sum over ranks of the gradient at its place."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, dim: int, group: ProcessGroup) -> Tensor:
        ctx.dim, ctx.group, ctx.part = dim, group, x.shape[dim]
        shards = [torch.empty_like(x) for _ in range(dist.get_world_size(group))]
        dist.all_gather(shards, x.contiguous(), group=group)
        return torch.cat(shards, dim=dim)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, group=ctx.group)
        start = dist.get_rank(ctx.group) * ctx.part
        return grad.narrow(ctx.dim, start, ctx.part), None, None


def split_over_ranks(transformer: Any, group: ProcessGroup | None = None) -> None:
    """Make a `DiffusionTransformer` split its tokens over `group` (default: every rank)."""
    split = UlyssesSplit(group or dist.group.WORLD)
    heads = transformer.cfg.num_heads
    if heads % split.size:
        raise KinemaError(
            f"the transformer's {heads} attention heads cannot be split over {split.size} "
            f"ranks: use a rank count that divides {heads}"
        )
    transformer.split_sequence(split)
