"""Library-level checks of generation and training: determinism, overfitting, exact resume."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from kinema.config import TextConfig, TransformerConfig
from kinema.dit import DiffusionTransformer
from kinema.errors import KinemaError
from kinema.flow import classifier_free_guidance, euler_sample, flow_matching_loss
from kinema.model import build_model, load_model
from kinema.pipeline import GenerationRequest, generate
from kinema.presets import get_preset
from kinema.text import LearnedTextEncoder
from kinema.train.autoencoder_stage import autoencoder_stage
from kinema.train.metrics import MetricsLog, read_metrics
from kinema.train.run import METRICS_FILE, prepare_run
from kinema.train.transformer_stage import transformer_stage

PROMPT = "a small red circle moves to the left on a black background"


def test_same_seed_gives_identical_frames(debug_run):
    model = load_model(debug_run)
    first = generate(model, GenerationRequest(prompt=PROMPT, seed=7, steps=4))
    second = generate(model, GenerationRequest(prompt=PROMPT, seed=7, steps=4))
    other = generate(model, GenerationRequest(prompt=PROMPT, seed=8, steps=4))
    assert first.dtype == np.uint8 and first.shape == (5, 16, 16, 3)
    assert np.array_equal(first, second)
    assert not np.array_equal(first, other)


def test_low_memory_generation_gives_the_same_frames(debug_run):
    """Low memory decodes one latent frame at a time (and on an accelerator borrows the
    text encoder and autoencoder from the CPU): the frames are the default path's."""
    model = load_model(debug_run)
    request = GenerationRequest(prompt=PROMPT, seed=3, steps=3, frames=13)
    default = generate(model, request)
    low = generate(model, replace(request, low_memory=True))
    assert default.shape == (13, 16, 16, 3)
    assert np.array_equal(default, low)
    assert model.autoencoder.decoder.conv_in.carry is None  # streaming state released


def test_factorized_video_starts_with_the_image_of_its_seed(debug_run):
    """Two-pass text-to-video samples latent frame 0 alone first, from the seed's first
    noise, so its first frame is the image that seed makes; the rest is sampled given it."""
    model = load_model(debug_run)
    steps: list[tuple[int, int]] = []
    request = GenerationRequest(prompt=PROMPT, seed=5, steps=3, frames=9, factorized=True)
    video = generate(model, request, progress=lambda done, total: steps.append((done, total)))
    image = generate(model, replace(request, frames=1))
    joint = generate(model, replace(request, factorized=False))
    assert video.shape == (9, 16, 16, 3) and image.shape == (1, 16, 16, 3)
    assert np.abs(video[0].astype(int) - image[0].astype(int)).max() <= 1
    assert not np.array_equal(video, joint)
    assert steps[-1] == (6, 6)  # both passes counted


def test_generation_refuses_impossible_sizes(debug_run):
    model = load_model(debug_run)
    with pytest.raises(KinemaError, match="1 \\+ 4k"):
        generate(model, GenerationRequest(prompt=PROMPT, frames=4))
    with pytest.raises(KinemaError, match="multiple of 8"):
        generate(model, GenerationRequest(prompt=PROMPT, width=12))


def test_tiny_model_overfits_one_caption():
    """Text encoder + transformer learn to turn noise into one latent under one caption."""
    torch.manual_seed(0)
    words = ("a", "red", "circle", "moves", "left")
    text = LearnedTextEncoder(
        TextConfig(vocabulary=words, max_tokens=8, width=32, depth=1, num_heads=2)
    )
    dit = DiffusionTransformer(
        TransformerConfig(latent_channels=4, hidden_size=64, depth=2, num_heads=4, context_dim=32)
    )
    dit.init_weights()
    target = torch.randn(1, 4, 2, 4, 4)
    optimizer = torch.optim.Adam([*dit.parameters(), *text.parameters()], lr=2e-3)
    caption = ["a red circle moves left"]

    def velocity(x, t):
        context, mask = text.encode(caption * 8)
        return dit(x, t, context, mask)

    for _ in range(300):
        t = torch.rand(8)
        loss = flow_matching_loss(
            velocity,
            target.expand(8, -1, -1, -1, -1),
            torch.randn(8, 4, 2, 4, 4),
            t,
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        context, mask = text.encode(caption)
        velocity = classifier_free_guidance(
            lambda x, t, context, context_mask: dit(x, t, context, context_mask),
            {"context": context, "context_mask": mask},
            {"context": context, "context_mask": mask},
            1.0,
        )
        sample = euler_sample(velocity, torch.randn(1, 4, 2, 4, 4), torch.linspace(1, 0, 21))
    error = ((sample - target) ** 2).mean().item()
    assert error < 0.1 * target.var().item(), error


@pytest.mark.parametrize("latent_pool", [0, 12], ids=["fresh-clips", "latent-pool"])
def test_killed_run_resumes_exactly(tmp_path, latent_pool):
    """Stopping the transformer stage mid-run and resuming gives the uninterrupted losses."""
    cfg = get_preset("debug")
    cfg = replace(
        cfg,
        world=replace(cfg.world, latent_pool=latent_pool),
        transformer_stage=replace(cfg.transformer_stage, steps=6, log_every=1, checkpoint_every=3),
    )
    device = torch.device("cpu")

    def stage_losses(run, stop_at=None):
        metrics = MetricsLog(run / METRICS_FILE)
        stage = autoencoder_stage(cfg, run, device, metrics)
        stage.train()
        stage = transformer_stage(cfg, run, device, metrics)
        stage.train(until=stop_at)

    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    for run in (straight, interrupted):
        prepare_run(run, cfg, resume=False)
    stage_losses(straight)
    stage_losses(interrupted, stop_at=3)  # "killed" after the checkpoint at step 3
    stage_losses(interrupted)  # a fresh process would rebuild everything the same way

    def losses(run):
        return {
            r["step"]: r["loss"]
            for r in read_metrics(run / METRICS_FILE)
            if r["stage"] == "transformer"
        }

    assert sorted(losses(straight)) == [1, 2, 3, 4, 5, 6]
    assert losses(interrupted) == pytest.approx(losses(straight), rel=1e-6)


@pytest.mark.parametrize("scale", [0.0, 0.25])
def test_text_encoder_learning_rate_scale(tmp_path, scale):
    """`text_lr_scale` sets the learned text encoder's rate apart from the transformer's;
    at 0 the encoder stays at its initialisation while the transformer trains."""
    cfg = get_preset("debug")
    cfg = replace(cfg, transformer_stage=replace(cfg.transformer_stage, text_lr_scale=scale))
    device = torch.device("cpu")
    prepare_run(tmp_path, cfg, resume=False)
    metrics = MetricsLog(tmp_path / METRICS_FILE)
    autoencoder_stage(cfg, tmp_path, device, metrics).train()
    trainer = transformer_stage(cfg, tmp_path, device, metrics)
    modules = trainer.stage.modules
    before = {name: [p.detach().clone() for p in m.parameters()] for name, m in modules.items()}
    trainer.train()
    text_ids = {id(p) for p in modules["text_encoder"].parameters()}
    for group in trainer.optimizer.param_groups:
        in_text = {id(p) in text_ids for p in group["params"]}
        assert len(in_text) <= 1  # a group is the text encoder's or not, never both
        if in_text == {True}:
            assert group["initial_lr"] == pytest.approx(cfg.transformer_stage.lr * scale)

    def moved(name):
        return any(
            not torch.equal(a, b)
            for a, b in zip(before[name], modules[name].parameters(), strict=True)
        )

    assert moved("transformer")
    assert moved("text_encoder") == (scale > 0)


def test_mismatched_latent_channels_are_refused():
    cfg = get_preset("debug").model
    wrong = replace(cfg, transformer=replace(cfg.transformer, latent_channels=8))
    with pytest.raises(KinemaError, match="latent channels"):
        build_model(wrong)
