"""The step cache: off changes nothing; on, it skips the blocks on steps that barely change."""

import numpy as np
import pytest
import torch

from kinema.dit.step_cache import StepCache
from kinema.errors import KinemaError
from kinema.model import load_model
from kinema.pipeline import GenerationRequest, generate

PROMPT = "a small red circle moves to the left on a black background"


def test_a_zero_threshold_computes_every_step_and_changes_nothing(debug_run):
    model = load_model(debug_run, "cpu")
    plain = generate(model, GenerationRequest(PROMPT, seed=1, steps=6))
    cached = generate(model, GenerationRequest(PROMPT, seed=1, steps=6, step_cache=0.0))
    assert np.array_equal(plain, cached)


def test_the_cache_reuses_the_residual_while_the_input_changes_little(debug_run):
    model = load_model(debug_run, "cpu")
    transformer = model.transformer
    x = torch.randn(1, 4, 2, 4, 4)
    context, mask = model.text_encoder.encode([PROMPT])
    cache = StepCache(threshold=10.0)
    with torch.no_grad():
        first = transformer(x, torch.tensor([0.5]), context, mask, step_cache=cache)
        again = transformer(x, torch.tensor([0.5]), context, mask, step_cache=cache)
        assert (cache.computed, cache.skipped) == (1, 1)
        assert torch.allclose(first, again, atol=1e-6)  # same input: the residual is exact
        tight = StepCache(threshold=1e-9)
        transformer(x, torch.tensor([0.5]), context, mask, step_cache=tight)
        transformer(x * 1.5, torch.tensor([0.4]), context, mask, step_cache=tight)
        assert (tight.computed, tight.skipped) == (2, 0)


def test_a_loose_threshold_skips_steps_of_a_generation(debug_run):
    model = load_model(debug_run, "cpu")
    with torch.no_grad():  # the debug model barely trained: give its blocks a visible effect
        for parameter in model.transformer.parameters():
            if parameter.ndim >= 2 and not parameter.abs().sum():
                parameter.normal_(std=0.1)
    plain = generate(model, GenerationRequest(PROMPT, seed=1, steps=12))
    video = generate(model, GenerationRequest(PROMPT, seed=1, steps=12, step_cache=5.0))
    assert video.shape == plain.shape and video.dtype == np.uint8
    assert not np.array_equal(video, plain)  # skipped steps reuse older results
    with pytest.raises(KinemaError, match="step cache"):
        generate(model, GenerationRequest(PROMPT, step_cache=-1.0))
