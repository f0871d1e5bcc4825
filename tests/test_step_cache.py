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


def test_a_loose_threshold_skips_steps_of_a_generation(debug_run, monkeypatch):
    model = load_model(debug_run, "cpu")
    computed = []
    store = StepCache.store

    def counting(cache, residual):
        computed.append(1)
        store(cache, residual)

    monkeypatch.setattr(StepCache, "store", counting)
    video = generate(model, GenerationRequest(PROMPT, seed=1, steps=12, step_cache=5.0))
    assert video.shape[0] == model.config.frames and video.dtype == np.uint8
    assert 1 <= len(computed) < 12  # the blocks ran on some steps only
    with pytest.raises(KinemaError, match="step cache"):
        generate(model, GenerationRequest(PROMPT, step_cache=-1.0))
