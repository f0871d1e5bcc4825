"""Building blocks of the diffusion transformer: timestep embedding, attention, MLP, DiT block.

Conditioning for adaLN is `cond` of shape (B, R, D): R = 1 (one time per sample, broadcast over
all tokens) or R = patch frames (one time per frame). With per-frame rows, `cond_index` (N,)
names the row of every token and the modulation is gathered to (B, N, k·D) after the linear, so
the linear runs on R rows rather than N tokens.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from kinema.dit.rope import apply_rope

TIME_SCALE = 1000.0  # t in [0, 1] is scaled so the sinusoid spans the usual DiT range

# q, k, v (B, heads, N, head_dim) -> (B, heads, N, head_dim)
AttentionFn = Callable[[Tensor, Tensor, Tensor], Tensor]


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """adaLN: x (B, N, D) with shift/scale (B, 1, D) or (B, N, D)."""
    return x * (1 + scale) + shift


def token_modulation(mod: Tensor, cond_index: Tensor | None) -> Tensor:
    """(B, R, k·D) modulation -> broadcastable per-token modulation (B, 1 or N, k·D)."""
    return mod if cond_index is None else mod[:, cond_index]  # (B, R, kD) -> (B, N, kD)


class TimestepEmbedder(nn.Module):
    """Flow time t in [0, 1] -> sinusoidal features of t·1000 -> MLP -> (..., D)."""

    def __init__(self, hidden_size: int, frequency_size: int = 256, max_period: float = 1e4):
        super().__init__()
        self.frequency_size = frequency_size
        self.max_period = max_period
        self.fc1 = nn.Linear(frequency_size, hidden_size)
        self.act = nn.SiLU()
        self.fc2 = nn.Linear(hidden_size, hidden_size)

    def sinusoid(self, t: Tensor) -> Tensor:
        half = self.frequency_size // 2
        exponent = torch.arange(half, dtype=torch.float32, device=t.device) / half
        freqs = torch.exp(-math.log(self.max_period) * exponent)  # (half,)
        args = (t.float() * TIME_SCALE)[..., None] * freqs  # (..., half)
        return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)  # (..., frequency_size)

    def forward(self, t: Tensor) -> Tensor:
        """t (...) -> (..., D). The sinusoid is cast to the weights' dtype (bf16 params)."""
        return self.fc2(self.act(self.fc1(self.sinusoid(t).to(self.fc1.weight.dtype))))


class ContextEmbedder(nn.Module):
    """Text token states (B, L, context_dim) -> (B, L, D); the norm tames unscaled encoders."""

    def __init__(self, context_dim: int, hidden_size: int):
        super().__init__()
        self.norm = nn.RMSNorm(context_dim, eps=1e-6)
        self.fc1 = nn.Linear(context_dim, hidden_size)
        self.act = nn.GELU()  # exact: see MLP
        self.fc2 = nn.Linear(hidden_size, hidden_size)

    def forward(self, context: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(self.norm(context))))


class SelfAttention(nn.Module):
    """Multi-head self-attention: fused QKV, RMS QK-norm per head, 3D RoPE, SDPA.

    `attention` is replaceable: sequence parallelism swaps in a function that attends this
    worker's tokens to every worker's (see `DiffusionTransformer.split_sequence`).
    """

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.q_norm = nn.RMSNorm(head_dim, eps=1e-6)
        self.k_norm = nn.RMSNorm(head_dim, eps=1e-6)
        self.proj = nn.Linear(dim, dim)
        self.attention: AttentionFn = F.scaled_dot_product_attention

    def forward(self, x: Tensor, rope: tuple[Tensor, Tensor]) -> Tensor:
        # (B, N, 3D) -> 3 × (B, heads, N, head_dim)
        qkv = rearrange(self.qkv(x), "b n (three h d) -> three b h n d", three=3, h=self.num_heads)
        q, k, v = qkv.unbind(0)
        q = apply_rope(self.q_norm(q), *rope)
        k = apply_rope(self.k_norm(k), *rope)
        out = self.attention(q, k, v)  # (B, heads, N, head_dim)
        return self.proj(rearrange(out, "b h n d -> b n (h d)"))


class CrossAttention(nn.Module):
    """Video tokens attend to text tokens; padded text positions are masked out."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.q_norm = nn.RMSNorm(head_dim, eps=1e-6)
        self.k_norm = nn.RMSNorm(head_dim, eps=1e-6)
        self.proj = nn.Linear(dim, dim)

    def keys_values(self, context: Tensor) -> tuple[Tensor, Tensor]:
        """Text keys and values, each (B, heads, L, head_dim): the same at every sampling
        step of one generation, so a sampler may compute them once (`PreparedText`)."""
        # (B, L, 2D) -> 2 × (B, heads, L, head_dim)
        kv = rearrange(self.kv(context), "b l (two h d) -> two b h l d", two=2, h=self.num_heads)
        k, v = kv.unbind(0)
        return self.k_norm(k), v

    def forward(
        self,
        x: Tensor,
        context: Tensor | None,
        context_mask: Tensor | None,
        keys_values: tuple[Tensor, Tensor] | None = None,
    ) -> Tensor:
        """x (B, N, D), context (B, L, D), context_mask bool (B, L) with True = real token.
        `keys_values` replaces `context` when they were computed ahead."""
        q = self.q_norm(rearrange(self.q(x), "b n (h d) -> b h n d", h=self.num_heads))
        k, v = keys_values if keys_values is not None else self.keys_values(context)
        if context_mask is None:
            out = F.scaled_dot_product_attention(q, k, v)
            return self.proj(rearrange(out, "b h n d -> b n (h d)"))
        # A row with no real token would softmax over nothing (NaN). Let such rows attend to
        # everything, then zero their result: no text contributes nothing.
        has_text = context_mask.any(dim=1)  # (B,)
        attend = context_mask | ~has_text[:, None]  # (B, L)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attend[:, None, None, :])
        out = self.proj(rearrange(out, "b h n d -> b n (h d)"))  # (B, N, D)
        return out * has_text[:, None, None].to(out.dtype)


class MLP(nn.Module):
    """Two linears around an exact (erf) GELU: on CPU, PyTorch's tanh approximation is about
    6× slower than the exact form and the two differ by under 1e-3."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class DiTBlock(nn.Module):
    """Self-attention and MLP under adaLN-zero (shift, scale, gate from the timestep), with an
    ungated pre-norm cross-attention to the text in between.

    Cross-attention is not gated by the timestep: text matters at every noise level, so its
    strength should be learned from the text rather than switched by t (as in PixArt-α). Its
    output projection is zero-initialised instead, so each block starts as the identity just
    as the adaLN-zero gates intend.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = SelfAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)  # affine: this branch has no modulation
        self.cross_attn = CrossAttention(dim, num_heads)
        self.norm3 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mlp = MLP(dim, int(dim * mlp_ratio))
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))

    def forward(
        self,
        x: Tensor,
        cond: Tensor,
        context: Tensor | None,
        context_mask: Tensor | None,
        rope: tuple[Tensor, Tensor],
        cond_index: Tensor | None = None,
        keys_values: tuple[Tensor, Tensor] | None = None,
    ) -> Tensor:
        """x (B, N, D); cond (B, R, D) with cond_index (N,) when R is per frame; see module doc.
        `keys_values`: this block's cross-attention text keys and values, computed ahead."""
        mod = token_modulation(self.modulation(cond), cond_index)  # (B, 1 or N, 6D)
        shift_attn, scale_attn, gate_attn, shift_mlp, scale_mlp, gate_mlp = mod.chunk(6, dim=-1)
        x = x + gate_attn * self.attn(modulate(self.norm1(x), shift_attn, scale_attn), rope)
        x = x + self.cross_attn(self.norm2(x), context, context_mask, keys_values)
        x = x + gate_mlp * self.mlp(modulate(self.norm3(x), shift_mlp, scale_mlp))
        return x


class FinalLayer(nn.Module):
    """adaLN (shift, scale) then a linear map from D to the patch features."""

    def __init__(self, dim: int, out_dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))
        self.linear = nn.Linear(dim, out_dim)

    def forward(self, x: Tensor, cond: Tensor, cond_index: Tensor | None = None) -> Tensor:
        shift, scale = token_modulation(self.modulation(cond), cond_index).chunk(2, dim=-1)
        return self.linear(modulate(self.norm(x), shift, scale))
