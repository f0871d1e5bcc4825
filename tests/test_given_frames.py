"""Training with prompting modes: given latent frames are drawn per sample, clean, and out of
the loss; steps that train images cut the batch to latent frame 0."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from kinema.config import ConditioningConfig
from kinema.dit import DiffusionTransformer
from kinema.model import KinemaModel
from kinema.presets import get_preset
from kinema.text import build_text_encoder
from kinema.train.flow_loss import latent_flow_loss
from kinema.train.given_frames import draw_given_frames, image_step, mode_frames
from kinema.train.shards import BatchShard

EVERY_MODE = ConditioningConfig(
    image_to_video=0.2, extend_forward=0.2, extend_backward=0.2, connect=0.2
)


def test_each_mode_gives_the_frames_it_names():
    rng = np.random.default_rng(0)
    assert mode_frames("text", 5, rng).tolist() == [False] * 5
    assert mode_frames("image_to_video", 5, rng).tolist() == [True] + [False] * 4
    assert mode_frames("connect", 5, rng).tolist() == [True, False, False, False, True]
    assert not mode_frames("connect", 2, rng).any()  # would give every frame: none instead
    assert not mode_frames("image_to_video", 1, rng).any()  # an image has no context frame
    for _ in range(50):
        forward = mode_frames("extend_forward", 5, rng)
        m = int(forward.sum())
        assert 1 <= m <= 4 and forward[:m].all() and not forward[m:].any()
        backward = mode_frames("extend_backward", 5, rng)
        m = int(backward.sum())
        assert 1 <= m <= 4 and backward[5 - m :].all() and not backward[: 5 - m].any()
    with pytest.raises(ValueError, match="unknown conditioning mode"):
        mode_frames("sideways", 5, rng)


def test_mode_shares_follow_the_config():
    given = draw_given_frames(EVERY_MODE, np.random.default_rng(1), 4000, 3)
    text_share = (~given.any(axis=1)).mean()
    first_only = (given[:, 0] & ~given[:, 1:].any(axis=1)).mean()  # image or forward m = 1
    assert abs(text_share - 0.2) < 0.03
    assert abs(first_only - 0.3) < 0.03  # image 0.2 + half of forward's 0.2
    assert not given.all(axis=1).any()  # never every frame


def test_temporal_patches_are_given_whole():
    given = draw_given_frames(EVERY_MODE, np.random.default_rng(2), 200, 6, temporal_patch=2)
    assert given.shape == (200, 6)
    assert (given[:, 0::2] == given[:, 1::2]).all()


def test_image_steps_come_at_their_share():
    cfg = ConditioningConfig(image_steps=0.25)
    share = np.mean([image_step(cfg, np.random.default_rng([0, s, 1])) for s in range(2000)])
    assert abs(share - 0.25) < 0.03
    assert not image_step(ConditioningConfig(), np.random.default_rng(0))
    with pytest.raises(ValueError, match="summing to at most 1"):
        ConditioningConfig(image_to_video=0.6, connect=0.6)


class _FixedLatents:
    """A latent source with one fixed batch."""

    def __init__(self, batch: int = 8, frames: int = 3, channels: int = 4):
        generator = torch.Generator().manual_seed(0)
        self.mean = torch.randn(batch, channels, frames, 4, 4, generator=generator)
        self.logvar = torch.full_like(self.mean, -20.0)
        self.captions = ["a small red circle moves to the left on a black background"] * batch

    def latents(self, step):
        return self.mean, self.logvar, self.captions

    def encode_text(self, text_encoder, captions):
        return text_encoder.encode(captions)


class _Recorder(torch.nn.Module):
    """Wraps a transformer and keeps what it was called with."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.calls = inner, []

    def forward(self, x, t, context, mask):
        self.calls.append((x.detach().clone(), t.detach().clone()))
        return self.inner(x, t, context, mask)


def _model() -> KinemaModel:
    cfg = get_preset("debug").model
    cfg = replace(cfg, latent_mean=(0.0,) * 4, latent_std=(1.0,) * 4)
    torch.manual_seed(0)
    transformer = DiffusionTransformer(cfg.transformer)
    torch.nn.init.normal_(transformer.final_layer.linear.weight, std=0.1)  # a nonzero output
    return KinemaModel(cfg, None, _Recorder(transformer), build_text_encoder(cfg.text))


def test_given_frames_are_clean_at_time_zero_and_leave_the_loss():
    model, source = _model(), _FixedLatents()
    only_connect = ConditioningConfig(connect=1.0)
    loss = latent_flow_loss(model, source, 0, 3, conditioning=only_connect)
    x, t = model.transformer.calls[-1]
    assert t.shape == (8, 3)
    assert (t[:, [0, 2]] == 0).all() and (t[:, 1] > 0).all()
    assert torch.allclose(x[:, :, [0, 2]], source.mean[:, :, [0, 2]], atol=1e-3)
    # Changing what the model predicts on given frames does not change the loss.
    transformer = model.transformer.inner
    original = transformer.forward

    def corrupt_given(x, t, context, mask):
        out = original(x, t, context, mask).clone()
        out[:, :, [0, 2]] += 100.0
        return out

    transformer.forward = corrupt_given
    assert torch.allclose(latent_flow_loss(model, source, 0, 3, conditioning=only_connect), loss)
    transformer.forward = original
    assert not torch.allclose(latent_flow_loss(model, source, 0, 3), loss)  # text-only differs


def test_image_steps_train_one_latent_frame():
    model, source = _model(), _FixedLatents()
    latent_flow_loss(model, source, 0, 0, conditioning=ConditioningConfig(image_steps=1.0))
    x, t = model.transformer.calls[-1]
    assert x.shape[2] == 1


def test_a_split_batch_sees_the_draws_of_the_whole():
    model, source = _model(), _FixedLatents()
    whole = latent_flow_loss(model, source, 0, 5, conditioning=EVERY_MODE)
    _, t_whole = model.transformer.calls[-1]
    halves = [
        latent_flow_loss(model, source, 0, 5, BatchShard(i, 2), conditioning=EVERY_MODE)
        for i in range(2)
    ]
    # a part with no given frame gets one time per sample: (B,) -> (B, T) to compare
    t_halves = torch.cat(
        [t.expand(3, -1).T if t.ndim == 1 else t for _, t in model.transformer.calls[-2:]]
    )
    assert torch.equal(t_halves, t_whole)
    assert halves[0] != halves[1] and torch.isfinite(whole)
