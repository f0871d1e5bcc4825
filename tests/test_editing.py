"""Edits that know what the input shows: inversion and FlowEdit (pure), then end to end."""

import numpy as np
import pytest
import torch

from kinema.errors import KinemaError
from kinema.flow import euler_sample, flow_edit, invert, invert_then_sample, sampling_schedule
from kinema.model import load_model
from kinema.pipeline import GenerationRequest, frames_to_video, generate, video_to_frames

PROMPT = "a small red circle moves to the left on a black background"


def _field(offset: float):
    """A velocity that depends on x and t (so retracing is not trivial), plus a constant."""
    return lambda x, t: torch.sin(3 * x) * (1 + t.view(-1, 1)) + offset


def _uniform(offset: float):
    """A velocity that varies in time only: the same at every x."""
    return lambda x, t: torch.cos(4 * t).view(-1, 1).expand_as(x) + offset


def _schedule(strength: float = 0.6, steps: int = 12) -> torch.Tensor:
    full = sampling_schedule(steps, 1.0)
    return torch.cat([full.new_tensor([strength]), full[full < strength]])


def _noise_stream(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return lambda x: torch.randn(x.shape, generator=generator)


def test_flow_edit_with_one_prompt_returns_the_input_whatever_the_noise():
    data = torch.randn(2, 8)
    same = _field(0.0)
    edited = flow_edit(same, same, data, _schedule(), _noise_stream())
    assert torch.equal(edited, data)


def test_flow_edit_moves_by_the_difference_of_the_prompts():
    data, difference = torch.randn(2, 8), 0.5
    source, target = _uniform(0.0), _uniform(difference)
    # Where the target's velocity is the source's plus d everywhere, the edit drifts by
    # -S · d from time S to 0 (velocity points from data towards noise).
    edited = flow_edit(source, target, data, _schedule(0.6), _noise_stream())
    assert torch.allclose(edited, data - 0.6 * difference, atol=1e-5)


def test_inversion_retraces_where_the_prompts_agree():
    data = torch.randn(2, 8)
    schedule = _schedule(0.6, steps=200)
    same = _field(0.0)
    noisy = invert(same, data, schedule.flip(0))
    assert not torch.allclose(noisy, data, atol=0.1)  # it went somewhere
    back = invert_then_sample(same, same, data, schedule)
    assert torch.allclose(back, data, atol=2e-2)  # Euler's forward and back differ by O(dt)
    shifted = invert_then_sample(same, _field(0.5), data, schedule)
    assert torch.allclose(shifted, euler_sample(_field(0.5), noisy, schedule), atol=1e-6)
    uniform = invert_then_sample(_uniform(0.0), _uniform(0.5), data, schedule)
    assert torch.allclose(uniform, data - 0.3, atol=2e-2)  # -S · d, as FlowEdit, to O(dt)


def test_pipeline_edits_with_the_source_prompt(debug_run):
    model = load_model(debug_run)
    source = generate(model, GenerationRequest(PROMPT, seed=6, steps=3))
    with torch.no_grad():
        latent, _ = model.autoencoder.encode(frames_to_video(source[None], model.device))
        round_trip = video_to_frames(model.autoencoder.decode(latent))
    # The same prompt on both sides, unguided as the source always is: FlowEdit's change is
    # zero, the input comes back as the autoencoder's round trip of it.
    request = GenerationRequest(
        PROMPT,
        seed=7,
        steps=4,
        guidance=1.0,
        edit=source,
        edit_method="flowedit",
        source_prompt=PROMPT,
    )
    assert np.array_equal(generate(model, request), round_trip)
    calls: list[tuple[int, int]] = []
    other = GenerationRequest(
        "a large blue square",
        seed=7,
        steps=4,
        edit=source,
        edit_method="invert",
        source_prompt=PROMPT,
        strength=0.5,
    )
    edited = generate(model, other, lambda done, total: calls.append((done, total)))
    assert edited.shape == source.shape and calls[-1][0] == calls[-1][1]


def test_pipeline_refuses_unknown_edit_methods_and_a_step_cache_with_two_prompts(debug_run):
    model = load_model(debug_run)
    source = generate(model, GenerationRequest(PROMPT, seed=6, steps=2))
    with pytest.raises(KinemaError, match="edit method must be one of"):
        generate(model, GenerationRequest(PROMPT, edit=source, edit_method="paint"))
    with pytest.raises(KinemaError, match="step cache"):
        generate(
            model,
            GenerationRequest(PROMPT, edit=source, edit_method="flowedit", step_cache=0.2),
        )
