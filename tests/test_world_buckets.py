"""World buckets: other aspect ratios and lengths, one shape per step, in their shares."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from kinema.config import BucketConfig
from kinema.errors import KinemaError
from kinema.model import load_model
from kinema.pipeline import GenerationRequest, generate
from kinema.presets import get_preset
from kinema.train import autoencoder_stage, prepare_run, train
from kinema.train.batches import WorldBatches, batch_source, shape_at, world_shapes
from kinema.world import WorldDataset

WIDE, TALL = BucketConfig(16, 24, 5), BucketConfig(24, 16, 5)


def _world(share: float = 0.5):
    return replace(get_preset("debug").world, buckets=(WIDE, TALL), bucket_share=share)


def test_shapes_take_their_shares_and_scaled_batch_sizes():
    shapes = world_shapes(_world(0.4), batch_size=6)
    assert [(s.height, s.width, s.frames) for s in shapes] == [
        (16, 16, 5),
        (16, 24, 5),
        (24, 16, 5),
    ]
    assert [s.batch_size for s in shapes] == [6, 4, 4]  # 6 × 16·16 / (16·24)
    assert [s.share for s in shapes] == pytest.approx([0.6, 0.2, 0.2])
    picks = np.bincount([shape_at(shapes, 0, step) for step in range(3000)], minlength=3)
    assert np.allclose(picks / 3000, [0.6, 0.2, 0.2], atol=0.03)
    with pytest.raises(KinemaError, match="bucket_share"):
        world_shapes(_world(0.0), batch_size=6)


def test_a_step_draws_one_shape_and_the_same_batch_every_time():
    batches = WorldBatches(_world(), seed=0, batch_size=6)
    seen = set()
    for step in range(12):
        frames, captions = batches.batch(step)
        shape = batches.shapes[shape_at(batches.shapes, 0, step)]
        assert frames.shape == (shape.batch_size, shape.frames, shape.height, shape.width, 3)
        assert len(captions) == shape.batch_size
        seen.add(frames.shape[2:4])
        again, _ = WorldBatches(_world(), seed=0, batch_size=6).batch(step)
        assert np.array_equal(frames, again)
    assert seen == {(16, 16), (16, 24), (24, 16)}


def test_no_buckets_keeps_the_base_world_stream():
    cfg = get_preset("debug")
    frames, _ = WorldBatches(cfg.world, seed=3, batch_size=2).batch(5)
    expected, _, _ = WorldDataset(cfg.world, seed=3).batch(10, 2)
    assert np.array_equal(frames, expected)


def test_a_run_with_buckets_and_a_latent_pool_trains_every_shape(tmp_path):
    cfg = get_preset("debug")
    cfg = replace(
        cfg,
        world=replace(_world(), latent_pool=16),
        transformer_stage=replace(cfg.transformer_stage, steps=8),
    )
    run = tmp_path / "run"
    train(run, prepare_run(run, cfg, resume=False), torch.device("cpu"))
    model = load_model(run, "cpu")
    video = generate(model, GenerationRequest(prompt="a red circle", height=16, width=24, seed=0))
    assert video.shape == (5, 16, 24, 3)


def test_a_stage_draws_world_clips_of_its_clip_frames():
    cfg = get_preset("debug")
    cfg = replace(cfg, world=replace(cfg.world, frames=9))
    frames, _ = batch_source(cfg, seed=3, batch_size=2, clip_frames=5).batch(0)
    assert frames.shape[:2] == (2, 5)
    assert batch_source(cfg, seed=3, batch_size=2).batch(0)[0].shape[:2] == (2, 9)
    with pytest.raises(KinemaError, match="clip_frames: frames must be of the form 1 \\+ 4k"):
        batch_source(cfg, seed=3, batch_size=2, clip_frames=4)


def test_an_autoencoder_trained_on_short_clips_serves_the_worlds_length(tmp_path, monkeypatch):
    drawn = []

    def recording_source(*args, **kwargs):
        source = batch_source(*args, **kwargs)
        drawn.append(source.batch(0)[0].shape[1])
        return source

    monkeypatch.setattr(autoencoder_stage, "batch_source", recording_source)
    cfg = get_preset("debug")
    cfg = replace(
        cfg,
        world=replace(cfg.world, frames=9),
        autoencoder_stage=replace(cfg.autoencoder_stage, clip_frames=5),
    )
    run = tmp_path / "run"
    train(run, prepare_run(run, cfg, resume=False), torch.device("cpu"))
    video = generate(load_model(run, "cpu"), GenerationRequest(prompt="a red circle", seed=0))
    assert drawn == [5] and video.shape == (9, 16, 16, 3)
