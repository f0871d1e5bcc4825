"""Diffusion transformer: patches, 3D RoPE, zero init, gradient flow, conditioning, overfit."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from kinema.config import TransformerConfig
from kinema.dit import (
    DiffusionTransformer,
    apply_rope,
    grid_positions,
    patch_grid,
    patchify,
    rope_axis_pairs,
    rope_frequencies,
    unpatchify,
)

TINY = TransformerConfig(
    latent_channels=4, patch_size=(1, 2, 2), hidden_size=64, depth=2, num_heads=4, context_dim=32
)
TINY_POOLED = replace(TINY, pooled_text=True)  # adaLN also sees the mean text state
TINY_PLACED = replace(TINY, absolute_positions=4)  # tokens also see where they are
BOTH = pytest.mark.parametrize(
    "cfg", [TINY, TINY_POOLED, TINY_PLACED], ids=["cross-attention", "pooled", "absolute"]
)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors gain nothing from threads, and two OpenMP threads on busy shared cores stall
    at every barrier (minutes instead of seconds for the overfit test)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def tiny_model(cfg: TransformerConfig = TINY, seed: int = 0) -> DiffusionTransformer:
    torch.manual_seed(seed)
    return DiffusionTransformer(cfg)


@torch.no_grad()
def perturb_zero_layers(model: DiffusionTransformer, std: float = 0.1) -> None:
    """Give the zero-initialised layers random values so every path carries signal."""
    for p in model.parameters():
        if torch.all(p == 0):
            p.normal_(std=std)


def inputs(batch: int = 2, frames: int = 3, height: int = 8, width: int = 8, length: int = 5):
    x = torch.randn(batch, TINY.latent_channels, frames, height, width)
    t = torch.rand(batch)
    context = torch.randn(batch, length, TINY.context_dim)
    mask = torch.ones(batch, length, dtype=torch.bool)
    return x, t, context, mask


# --- patches ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("patch", "thw"),
    [
        ((1, 2, 2), (3, 6, 10)),
        ((2, 2, 2), (4, 4, 6)),
        ((1, 1, 1), (2, 3, 5)),
        ((1, 2, 2), (1, 2, 4)),
    ],
)
def test_patchify_round_trip(patch: tuple[int, int, int], thw: tuple[int, int, int]) -> None:
    x = torch.randn(2, 3, *thw)
    grid = patch_grid(thw, patch)
    tokens = patchify(x, patch)
    assert tokens.shape == (2, grid[0] * grid[1] * grid[2], 3 * patch[0] * patch[1] * patch[2])
    assert torch.equal(unpatchify(tokens, patch, grid, 3), x)


def test_token_order_matches_positions() -> None:
    # Each token's first feature is the latent value at its patch's corner.
    patch, thw = (1, 2, 2), (2, 4, 6)
    x = torch.arange(2 * 4 * 6, dtype=torch.float32).reshape(1, 1, *thw)
    tokens = patchify(x, patch)
    positions = grid_positions(patch_grid(thw, patch))
    corners = x[0, 0, positions[:, 0], positions[:, 1] * 2, positions[:, 2] * 2]
    assert torch.equal(tokens[0, :, 0], corners)
    assert positions[:3].tolist() == [[0, 0, 0], [0, 0, 1], [0, 0, 2]]


def test_patch_grid_names_the_rule() -> None:
    assert patch_grid((3, 8, 6), (1, 2, 2)) == (3, 4, 3)
    rule = r"divisible by its patch size.*w = 7 is not a multiple of 2"
    with pytest.raises(ValueError, match=rule):
        patch_grid((3, 8, 7), (1, 2, 2))


# --- RoPE ------------------------------------------------------------------------------


def rope_score(q: torch.Tensor, k: torch.Tensor, p_q: torch.Tensor, p_k: torch.Tensor):
    """Score between q at position p_q and k at p_k after 3D RoPE."""
    positions = torch.stack([p_q, p_k])  # (2, 3)
    cos, sin = rope_frequencies(positions, q.shape[-1], theta=10000.0)
    pair = torch.stack([q, k])[None, None]  # (1, 1, 2, head_dim)
    rq, rk = apply_rope(pair, cos, sin)[0, 0]
    return (rq * rk).sum()


def test_rope_axis_split_and_validation() -> None:
    assert rope_axis_pairs(32) == (4, 6, 6)
    assert rope_axis_pairs(16) == (2, 3, 3)
    assert sum(rope_axis_pairs(24)) == 12
    with pytest.raises(ValueError, match="even head_dim"):
        rope_axis_pairs(15)
    with pytest.raises(ValueError, match="at least 6"):
        rope_axis_pairs(4)


def test_rope_depends_only_on_relative_offset() -> None:
    torch.manual_seed(0)
    q, k = torch.randn(2, 32)
    p1, p2 = torch.tensor([1, 3, 7]), torch.tensor([4, 0, 2])
    base = rope_score(q, k, p1, p2)
    for shift in ([5, 11, -2], [17, 0, 9], [0, 23, 31]):
        d = torch.tensor(shift)
        assert torch.allclose(base, rope_score(q, k, p1 + d, p2 + d), atol=1e-5, rtol=0)
    # a different offset along any single axis changes the score
    for axis in range(3):
        moved = p2.clone()
        moved[axis] += 1
        assert (base - rope_score(q, k, p1, moved)).abs() > 1e-3


def test_rope_keeps_norm_and_is_identity_at_origin() -> None:
    x = torch.randn(2, 4, 6, 16)
    positions = torch.tensor([[0, 0, 0], [2, 5, 1], [9, 0, 3], [0, 40, 40], [1, 1, 1], [7, 7, 7]])
    cos, sin = rope_frequencies(positions, 16)
    rotated = apply_rope(x, cos, sin)
    assert torch.allclose(rotated.norm(dim=-1), x.norm(dim=-1), atol=1e-5)
    assert torch.allclose(rotated[:, :, 0], x[:, :, 0])


# --- model -----------------------------------------------------------------------------


@BOTH
def test_fresh_model_outputs_exactly_zero(cfg: TransformerConfig) -> None:
    model = tiny_model(cfg)
    x, t, context, mask = inputs()
    out = model(x, t, context, mask)
    assert out.shape == x.shape
    assert torch.equal(out, torch.zeros_like(x))
    assert model.context_dim == TINY.context_dim
    assert model.num_parameters() == sum(p.numel() for p in model.parameters())


@BOTH
def test_prepared_text_gives_the_outputs_of_raw_text(cfg: TransformerConfig) -> None:
    model = tiny_model(cfg)
    perturb_zero_layers(model)
    x, t, context, mask = inputs()
    mask[1, 2:] = False
    prepared = model.prepare_text(context, mask)
    for times in (t, torch.rand(2, x.shape[2])):  # per sample and per frame
        with torch.no_grad():
            raw = model(x, times, context, mask)
        assert torch.allclose(model(x, times, prepared), raw, atol=1e-6)
    assert len(prepared.keys_values) == cfg.depth


@BOTH
def test_gradients_reach_every_parameter(cfg: TransformerConfig) -> None:
    model = tiny_model(cfg)
    perturb_zero_layers(model)
    x, _, context, mask = inputs()
    mask[1, 3:] = False
    t = torch.rand(2, x.shape[2])  # per-frame path
    loss = (model(x, t, context, mask) - torch.randn_like(x)).pow(2).mean()
    loss.backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead, f"no gradient for {dead}"


def test_absolute_positions_place_rows_and_columns_as_fractions() -> None:
    """The absolute embedding tells every token of a grid apart, and reads rows and columns
    as fractions of the frame: column 0 of 2 (centre 1/4) is column 1 of 6 (centre 1/4)."""
    from kinema.dit.model import AbsolutePositionEmbedder

    embedder = AbsolutePositionEmbedder(4, 16)
    positions = grid_positions((2, 2, 2))
    placed = embedder(positions, (2, 2, 2))
    assert len({tuple(row) for row in placed.tolist()}) == len(positions)
    quarter_of_two = embedder(torch.tensor([[1, 1, 0]]), (2, 2, 2))
    quarter_of_six = embedder(torch.tensor([[1, 1, 1]]), (2, 2, 6))
    half_of_six = embedder(torch.tensor([[1, 1, 2]]), (2, 2, 6))
    torch.testing.assert_close(quarter_of_two, quarter_of_six)
    assert not torch.allclose(quarter_of_two, half_of_six)


def test_per_frame_time_equal_frames_matches_per_sample() -> None:
    model = tiny_model()
    perturb_zero_layers(model)
    x, t, context, mask = inputs(frames=3)
    with torch.no_grad():
        expected = model(x, t, context, mask)
        per_frame = model(x, t[:, None].expand(-1, 3), context, mask)
    assert torch.allclose(per_frame, expected, atol=1e-5)


def test_per_frame_time_conditions_each_frame() -> None:
    model = tiny_model()
    perturb_zero_layers(model)
    x, t, context, mask = inputs(frames=3)
    t_frames = t[:, None].repeat(1, 3)
    with torch.no_grad():
        base = model(x, t_frames, context, mask)
        t_frames[:, 0] = 0.0  # first frame clean
        changed = model(x, t_frames, context, mask)
    # attention mixes frames, so all move; the first frame's own modulation moves it most
    diff = (changed - base).abs().mean(dim=(0, 1, 3, 4))  # (T,)
    assert diff[0] > diff[1:].max()


def test_temporal_patch_uses_mean_time_of_its_frames() -> None:
    cfg = TransformerConfig(
        latent_channels=4,
        patch_size=(2, 2, 2),
        hidden_size=64,
        depth=1,
        num_heads=4,
        context_dim=32,
    )
    model = tiny_model(cfg)
    perturb_zero_layers(model)
    x, _, context, mask = inputs(frames=4, height=4, width=4)
    t = torch.tensor([[0.2, 0.4, 0.6, 1.0], [0.1, 0.1, 0.5, 0.7]])
    means = torch.tensor([[0.3, 0.3, 0.8, 0.8], [0.1, 0.1, 0.6, 0.6]])
    with torch.no_grad():
        assert torch.allclose(model(x, t, context, mask), model(x, means, context, mask), atol=1e-5)


@BOTH
def test_masked_context_positions_are_ignored(cfg: TransformerConfig) -> None:
    model = tiny_model(cfg)
    perturb_zero_layers(model)
    x, t, context, mask = inputs(length=6)
    mask[0, 2:] = False
    mask[1, 5:] = False
    other = context.clone()
    other[0, 2:] = torch.randn(4, TINY.context_dim) * 10
    other[1, 5:] = torch.randn(1, TINY.context_dim) * 10
    with torch.no_grad():
        assert torch.allclose(model(x, t, context, mask), model(x, t, other, mask), atol=1e-6)
        # ...while a real position does matter
        other[0, 0] += 1.0
        assert not torch.allclose(model(x, t, context, mask), model(x, t, other, mask), atol=1e-4)


@BOTH
def test_fully_masked_row_is_finite_and_ignores_its_context(cfg: TransformerConfig) -> None:
    model = tiny_model(cfg)
    perturb_zero_layers(model)
    x, t, context, mask = inputs()
    mask[0] = False
    with torch.no_grad():
        out = model(x, t, context, mask)
        out_other = model(x, t, torch.randn_like(context), mask)
    assert torch.isfinite(out).all()
    assert torch.allclose(out[0], out_other[0], atol=1e-6)


@pytest.mark.parametrize("thw", [(1, 8, 8), (1, 6, 10), (3, 10, 6), (5, 2, 14)])
def test_output_shape_for_images_and_odd_grids(thw: tuple[int, int, int]) -> None:
    model = tiny_model()
    perturb_zero_layers(model)
    x, t, context, mask = inputs(frames=thw[0], height=thw[1], width=thw[2])
    with torch.no_grad():
        out = model(x, t, context, mask)
    assert out.shape == x.shape
    assert torch.isfinite(out).all()


def test_bad_shapes_raise() -> None:
    model = tiny_model()
    x, t, context, mask = inputs(height=7)
    with pytest.raises(ValueError, match="divisible"):
        model(x, t, context, mask)
    x, t, context, mask = inputs()
    with pytest.raises(ValueError, match=r"t must be"):
        model(x, torch.rand(2, 5), context, mask)
    with pytest.raises(ValueError, match="num_heads"):
        DiffusionTransformer(TransformerConfig(hidden_size=60, num_heads=8))


def test_tiny_model_overfits_one_example() -> None:
    model = tiny_model(seed=1)
    torch.manual_seed(1)
    x, t, context, mask = inputs(batch=1, frames=2, height=4, width=4, length=4)
    target = torch.randn_like(x)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(200):
        loss = (model(x, t, context, mask) - target).pow(2).mean()
        first = loss.item() if first is None else first
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    final = (model(x, t, context, mask) - target).pow(2).mean().item()
    assert final < first / 100, (first, final)
