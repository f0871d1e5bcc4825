import math

import pytest
import torch

from kinema.config import FlowConfig
from kinema.flow import (
    classifier_free_guidance,
    euler_sample,
    flow_matching_loss,
    foreground_latent_weights,
    heun_sample,
    interpolate,
    sample_timesteps,
    sampling_schedule,
    shift_for_tokens,
    shift_time,
    velocity_target,
)


def test_path_endpoints_and_per_frame_time():
    x0, noise = torch.randn(2, 3, 4, 5, 5), torch.randn(2, 3, 4, 5, 5)
    assert torch.equal(interpolate(x0, noise, torch.zeros(2)), x0)
    assert torch.equal(interpolate(x0, noise, torch.ones(2)), noise)
    # Frame 0 given clean (t = 0), the others pure noise.
    t = torch.tensor([[0.0, 1.0, 1.0, 1.0]] * 2)
    x_t = interpolate(x0, noise, t)
    assert torch.equal(x_t[:, :, 0], x0[:, :, 0])
    assert torch.equal(x_t[:, :, 1:], noise[:, :, 1:])


def test_euler_is_exact_on_a_straight_path_in_one_step():
    x0, noise = torch.randn(3, 4, 2, 4, 4), torch.randn(3, 4, 2, 4, 4)
    target = velocity_target(x0, noise)
    result = euler_sample(lambda x, t: target, noise, torch.tensor([1.0, 0.0]))
    assert torch.allclose(result, x0, atol=1e-6)


@pytest.mark.parametrize(
    "sampler, steps, tolerance", [(euler_sample, 400, 2e-3), (heun_sample, 20, 1e-3)]
)
def test_known_velocity_field_reaches_its_endpoint(sampler, steps, tolerance):
    # dx/dt = x has the solution x(t) = x(1) e^(t - 1): from t = 1 to t = 0, x -> x / e.
    start = torch.randn(4, 8)
    result = sampler(lambda x, t: x, start, torch.linspace(1.0, 0.0, steps + 1))
    assert torch.allclose(result, start / math.e, atol=tolerance)


def test_heun_beats_euler_at_equal_steps():
    start = torch.randn(16)
    schedule = torch.linspace(1.0, 0.0, 11)
    exact = start * math.exp(-1)
    euler = euler_sample(lambda x, t: x, start, schedule)
    heun = heun_sample(lambda x, t: x, start, schedule)
    assert (heun - exact).abs().max() < (euler - exact).abs().max() / 10


def test_samplers_report_progress():
    calls = []
    euler_sample(
        lambda x, t: x,
        torch.zeros(2),
        torch.linspace(1, 0, 6),
        callback=lambda i, n: calls.append((i, n)),
    )
    assert calls == [(i, 5) for i in range(1, 6)]


def test_loss_is_zero_for_the_exact_velocity_and_respects_the_mask():
    x0, noise = torch.randn(2, 3, 4, 4, 4), torch.randn(2, 3, 4, 4, 4)
    t = torch.rand(2)
    exact = velocity_target(x0, noise)
    assert flow_matching_loss(lambda x, tt: exact, x0, noise, t).item() == 0.0
    wrong_on_frame0 = exact.clone()
    wrong_on_frame0[:, :, 0] += 1.0
    mask = torch.tensor([[False, True, True, True]] * 2)
    assert flow_matching_loss(lambda x, tt: wrong_on_frame0, x0, noise, t, mask).item() == 0.0
    assert flow_matching_loss(lambda x, tt: wrong_on_frame0, x0, noise, t).item() > 0.1


def test_temporal_weight_counts_frame_to_frame_error_changes():
    """The temporal term sees an error that changes between frames, not a constant one;
    given frames leave it as they leave the plain term."""
    x0, noise = torch.randn(2, 3, 4, 4, 4), torch.randn(2, 3, 4, 4, 4)
    t = torch.rand(2)
    exact = velocity_target(x0, noise)
    constant = exact + 0.5  # the same error on every frame: no change between frames
    plain = flow_matching_loss(lambda x, tt: constant, x0, noise, t).item()
    weighted = flow_matching_loss(lambda x, tt: constant, x0, noise, t, temporal_weight=2.0)
    assert weighted.item() == pytest.approx(plain) == pytest.approx(0.25)
    flicker = exact.clone()
    flicker[:, :, 2] += 1.0  # frame 2 alone is wrong: changes 1→2 and 2→3
    plain = flow_matching_loss(lambda x, tt: flicker, x0, noise, t).item()
    weighted = flow_matching_loss(lambda x, tt: flicker, x0, noise, t, temporal_weight=2.0)
    assert plain == pytest.approx(1 / 4)
    assert weighted.item() == pytest.approx(1 / 4 + 2.0 * 2 / 3)
    mask = torch.tensor([[True, True, False, True]] * 2)  # frame 2 given: nothing counts
    given = flow_matching_loss(lambda x, tt: flicker, x0, noise, t, mask, temporal_weight=2.0)
    assert given.item() == 0.0


def test_foreground_weight_counts_object_positions_more():
    x0 = torch.zeros(1, 2, 1, 4, 4)  # a flat background latent
    x0[0, :, 0, 1, 2] = torch.tensor([3.0, 1.0])  # one object position, 2 from the median
    weights = foreground_latent_weights(x0, 0.5)
    assert weights.shape == (1, 1, 1, 4, 4)
    assert weights[0, 0, 0, 1, 2] == 2.0  # 1 + 0.5 · mean(3, 1)
    assert weights.sum() == 16 + 1.0  # every other position keeps 1
    noise = torch.zeros_like(x0)
    exact = velocity_target(x0, noise)
    t = torch.full((1,), 0.5)
    for where in ((1, 2), (3, 3)):  # the same error on the object and on the background
        wrong = exact.clone()
        wrong[0, 0, 0, where[0], where[1]] += 1.0
        plain = flow_matching_loss(lambda x, tt, v=wrong: v, x0, noise, t)
        weighted = flow_matching_loss(
            lambda x, tt, v=wrong: v, x0, noise, t, position_weight=weights
        )
        assert weighted.item() == pytest.approx(weights[0, 0, 0, where[0], where[1]] * plain)


def test_timesteps_and_shift():
    cfg = FlowConfig()
    generator = torch.Generator().manual_seed(0)
    t = sample_timesteps(10_000, cfg, shift=1.0, generator=generator)
    assert t.min() > 0 and t.max() < 1
    assert abs(t.median().item() - 0.5) < 0.02  # logit-normal(0, 1) is centred on 1/2
    shifted = sample_timesteps(10_000, cfg, shift=3.0, generator=torch.Generator().manual_seed(0))
    assert shifted.median() > 0.7  # more time near noise
    grid = torch.linspace(0, 1, 101)
    assert torch.all(shift_time(grid, 2.0).diff() > 0)
    assert shift_time(torch.tensor([0.0, 1.0]), 2.0).tolist() == [0.0, 1.0]
    assert shift_for_tokens(4096, cfg) > shift_for_tokens(256, cfg) > shift_for_tokens(64, cfg)
    assert math.isclose(shift_for_tokens(256, cfg), math.exp(cfg.shift_base_mu))
    schedule = sampling_schedule(10, 2.0)
    assert schedule[0] == 1 and schedule[-1] == 0 and torch.all(schedule.diff() < 0)


def test_guidance_combines_branches_in_one_batched_call():
    calls = []

    def model_fn(x, t, context):
        calls.append(x.shape[0])
        return x * 0 + context.view(-1, 1)

    cond, uncond = {"context": torch.tensor([2.0])}, {"context": torch.tensor([0.5])}
    guided = classifier_free_guidance(model_fn, cond, uncond, scale=3.0)
    v = guided(torch.zeros(1, 4), torch.ones(1))
    assert calls == [2]
    assert torch.allclose(v, torch.full((1, 4), 0.5 + 3.0 * (2.0 - 0.5)))
    plain = classifier_free_guidance(model_fn, cond, uncond, scale=1.0)
    assert torch.allclose(plain(torch.zeros(1, 4), torch.ones(1)), torch.full((1, 4), 2.0))
