"""Named training presets: a registry of complete, frozen run configurations."""

from __future__ import annotations

from kinema.config import (
    AutoencoderConfig,
    BucketConfig,
    ConditioningConfig,
    FlowConfig,
    ModelConfig,
    StageConfig,
    TextConfig,
    TrainConfig,
    TransformerConfig,
    WorldConfig,
)
from kinema.errors import KinemaError
from kinema.world import vocabulary


def _run(
    name: str,
    world: WorldConfig,
    autoencoder: AutoencoderConfig,
    transformer: TransformerConfig,
    text: TextConfig,
    flow: FlowConfig,
    autoencoder_stage: StageConfig,
    transformer_stage: StageConfig,
    conditioning: ConditioningConfig | None = None,
) -> TrainConfig:
    """A run whose model generates, by default, the clips its world draws."""
    geometry = {"height": world.height, "width": world.width, "frames": world.frames}
    return TrainConfig(
        name=name,
        world=world,
        model=ModelConfig(autoencoder, transformer, text, flow, fps=world.fps, **geometry),
        autoencoder_stage=autoencoder_stage,
        transformer_stage=transformer_stage,
        conditioning=conditioning or ConditioningConfig(),
    )


# Every prompting mode in a sixth of the samples (kinema/train/given_frames.py), and images.
# On the shapes-tiny transformer stage (same autoencoder and steps, 256 prompts) these
# shares kept text-to-video adherence (49.2% against 50.4% without modes) where twice
# them cost 6 points (44.1%); the modes measured alike (docs/modes.md).
EVERY_MODE = ConditioningConfig(
    image_to_video=0.06, extend_forward=0.04, extend_backward=0.03, connect=0.04, image_steps=0.025
)
# RoPE's base for grids of a few tokens per axis (shapes-tiny: 3 × 4 × 4). With the usual
# 10000 only one or two of each axis' rotation pairs turn measurably between neighbours;
# 100 spreads them over the grid (the slowest still spans ~290 tokens). In 1500-step runs
# on shapes-tiny it raised mean attribute accuracy from 45% to 51% (colour 53% -> 91%) and
# gave the first measurable use of direction words.
SMALL_GRID_ROPE_THETA = 100.0
MINILM = TextConfig(kind="minilm", max_tokens=48, width=384)
# Weight of the loss on the error's change between latent frames (FlowConfig.temporal_weight).
# In 1500-step shapes-tiny runs, 2 raised mean attribute accuracy from 54.7% to 64.0% and made
# the first measurable use of direction words (benchmarks/caption_swap.py); 8 gave 58.9%.
# Over a whole 6500-step transformer stage: motion 31.2% -> 59.4%, adherence 14.1% -> 26.6%.
TEMPORAL_WEIGHT = 2.0
# Objects of the 32×32 world drawn this much larger (WorldConfig.object_scale): radii of
# 5.8, 7.6 and 10.3 px instead of 4.2, 5.4 and 7.4. With the same autoencoder recipe the
# round trip then keeps shape in 81% of clips instead of 60-63% (stars 38% instead of
# 12-14%), and the whole shapes-tiny preset, at the same step counts, generates the
# prompted shape in 65% of 128 prompts instead of 40% (adherence 45% instead of 27%).
OBJECT_SCALE_32 = 1.4
# Weight of the flow loss on latent positions off the frame's median (FlowConfig.
# foreground_weight). On the shapes-tiny transformer stage (same autoencoder, 128 prompts),
# 1 raised adherence from 45.3% to 51.6% and temporal consistency from 76.6% to 85.2%.
FLOW_FOREGROUND_WEIGHT = 1.0
# Sampling steps of the shapes-tiny model. Over 256 prompts the shipped model's adherence
# was 74.2% at 25 steps, 73.4% at 12 and 72.3% at 8; its modes measured alike at 8 and 25
# (docs/modes.md). 12 keeps adherence within a point in half the sampling time.
SHAPES_TINY_STEPS = 12


def _debug() -> TrainConfig:
    """Runs in seconds: for tests and for checking an installation."""
    return _run(
        "debug",
        WorldConfig(height=16, width=16, frames=5, fps=4, max_objects=1),
        AutoencoderConfig(latent_channels=4, base_channels=8),
        TransformerConfig(hidden_size=32, depth=1, num_heads=2, context_dim=32, pooled_text=True),
        TextConfig(vocabulary=tuple(vocabulary()), width=32, depth=1, num_heads=2),
        FlowConfig(sample_steps=4),
        StageConfig(steps=4, batch_size=2, warmup_steps=1, log_every=2),
        StageConfig(steps=4, batch_size=2, warmup_steps=1, log_every=2),
    )


def _shapes_tiny() -> TrainConfig:
    """One object at 32×32 (and 24×40, 40×24), 9 frames over 2 seconds, trained on 2 cores.

    Objects are drawn 1.4× the base sizes (`OBJECT_SCALE_32`): at the base sizes a 4×
    autoencoder at 32×32 kept the outline of barely one star in eight. 8 latent channels
    keep small shapes' corners (a 4-channel latent turned every star into a blob). The
    autoencoder trains on 5-frame clips in batches of 4: at equal wall time small
    batches of short clips reconstruct better than 16 clips of 9 frames (its convolutions
    see a few frames at a time, and the model still encodes and decodes 9). Its loss counts
    pixels off the background up to 1 + 3 · their distance from it (`foreground_weight`): at
    equal steps the round trip keeps shape in 60–65% of clips instead of 58%. The transformer
    stage encodes a pool of 8k clips once, so its steps cost only the transformer, and its
    adaLN also sees the pooled prompt. Prompts go through the frozen all-MiniLM-L6-v2 (each
    pool caption encoded once): over the same 4500 steps it raised mean attribute accuracy
    from 77.7% to 82.7% and adherence from 16.4% to 23.4% (128 prompts) against the learned
    encoder, whose training let shape words fade. At the same samples, batches of 16 clips
    beat batches of 32: 9000 × 16 against 4500 × 32 took 12% more wall time for shape 39.8%
    against 35.9% and adherence 27.3% against 22.7% (128 prompts; batch 64 × 2250 lost ground
    everywhere). Text-to-video only: it gives every mode at sampling as well as the same
    stage trained with `EVERY_MODE` does, and closes loops better (docs/modes.md). The
    autoencoder takes 8000 steps rather than 2000 (about 13 minutes instead of 3 on 2
    cores): its round trip of a first frame rose from 25.4 to 31.3 dB (the image-to-video
    bar is 30) and of later frames from 23 to 27-29 dB, at the same text-to-video adherence
    (53.1% against 53.5% over 256 prompts). The transformer takes 45000 steps (about 75
    minutes at two threads): 9000 gave 52.3% adherence over 256 prompts, 18000 72.3% (8
    sampling steps), 30000 81.6% without buckets and 79.7% with a fifth of the steps on
    them, 45000 with 35% of them 81.6% (12 steps). Those steps draw 24×40 and 40×24 clips
    (16:9 and 9:16 at about the 32×32 area): on 128 cases they reach 81.3% and 83.6%
    adherence at 86.7% for 32×32, where a fifth of 30000 steps gave 79.7% and 75.8% at
    85.9%, and none 66.4% and 65.6% at 83.6% (docs/modes.md). This is the first phase of
    the shipped model's recipe: two warm starts from it (`kinema train --init`, 30000 steps
    at 4e-4, then 10000 at 2e-4 with half the steps on the buckets) took adherence to 87.1%
    (checkpoints/kinema-shapes-tiny/README.md).
    """
    return _run(
        "shapes-tiny",
        WorldConfig(
            height=32,
            width=32,
            frames=9,
            fps=4,
            max_objects=1,
            latent_pool=8192,
            object_scale=OBJECT_SCALE_32,
            buckets=(BucketConfig(24, 40, 9), BucketConfig(40, 24, 9)),
            bucket_share=0.35,
        ),
        AutoencoderConfig(latent_channels=8, base_channels=32, foreground_weight=3.0),
        TransformerConfig(
            latent_channels=8,
            hidden_size=128,
            depth=4,
            num_heads=4,
            patch_size=(1, 2, 2),
            context_dim=MINILM.width,
            pooled_text=True,
            rope_theta=SMALL_GRID_ROPE_THETA,
        ),
        MINILM,
        FlowConfig(
            sample_steps=SHAPES_TINY_STEPS,
            guidance=4.0,
            temporal_weight=TEMPORAL_WEIGHT,
            foreground_weight=FLOW_FOREGROUND_WEIGHT,
        ),
        StageConfig(
            steps=8000,
            batch_size=4,
            lr=1e-3,
            warmup_steps=100,
            checkpoint_every=1000,
            sample_every=1000,
            log_every=25,
            clip_frames=5,
        ),
        StageConfig(
            steps=45000,
            batch_size=16,
            lr=1e-3,
            warmup_steps=400,
            ema_decay=0.9995,
            checkpoint_every=2000,
            sample_every=15000,
            log_every=25,
            weight_decay=0.01,
        ),
    )


def _shapes_64() -> TrainConfig:
    """The shipped model's recipe: 64×64 (and 16:9, 9:16), 17 frames at 8 fps, 1–3 objects,
    every motion and prompting mode, prompts through the frozen all-MiniLM-L6-v2.

    48×80 and 80×48 are the 16:9 and 9:16 buckets at about the 64×64 area, in multiples of
    the autoencoder's 8 × the patch's 2. A fifth of the steps train them. Sized to ship in
    30 MB at fp16: a 7.1M-parameter autoencoder and a 7.1M-parameter transformer.
    """
    wide, tall = BucketConfig(48, 80, 17), BucketConfig(80, 48, 17)
    return _run(
        "shapes-64",
        WorldConfig(
            height=64,
            width=64,
            frames=17,
            fps=8,
            max_objects=3,
            latent_pool=32768,
            buckets=(wide, tall),
            bucket_share=0.2,
        ),
        AutoencoderConfig(latent_channels=8, base_channels=24, spatial_compression=8),
        TransformerConfig(
            latent_channels=8,
            hidden_size=224,
            depth=6,
            num_heads=7,
            patch_size=(1, 2, 2),
            context_dim=MINILM.width,
            pooled_text=True,
            rope_theta=SMALL_GRID_ROPE_THETA,  # 5 × 4 × 4 tokens at 64×64
        ),
        MINILM,
        FlowConfig(sample_steps=25, guidance=4.0),
        StageConfig(
            steps=4000,
            batch_size=16,
            lr=1e-3,
            warmup_steps=100,
            checkpoint_every=250,
            sample_every=2000,
            log_every=25,
        ),
        StageConfig(
            steps=40000,
            batch_size=64,
            lr=5e-4,
            warmup_steps=500,
            ema_decay=0.999,
            checkpoint_every=500,
            sample_every=5000,
            log_every=50,
            weight_decay=0.01,
        ),
        EVERY_MODE,
    )


def _base_256() -> TrainConfig:
    """A 370M-parameter transformer on 256×256 clips of 17 frames: the scale of a GPU run.

    Its latent of a 256×256×17 clip is 16×5×32×32 (×8 spatial, ×4 temporal), 1280 tokens
    with 1×2×2 patches; `benchmarks/mfu.py` measures its training step.
    """
    wide, tall = BucketConfig(192, 336, 17), BucketConfig(336, 192, 17)
    return _run(
        "base-256",
        WorldConfig(
            height=256, width=256, frames=17, fps=8, buckets=(wide, tall), bucket_share=0.2
        ),
        AutoencoderConfig(latent_channels=16, base_channels=64, spatial_compression=8),
        TransformerConfig(
            latent_channels=16,
            hidden_size=1024,
            depth=16,
            num_heads=16,
            patch_size=(1, 2, 2),
            context_dim=MINILM.width,
            pooled_text=True,
        ),
        MINILM,
        FlowConfig(sample_steps=30, guidance=4.0),
        StageConfig(steps=20000, batch_size=32, lr=3e-4, warmup_steps=500, checkpoint_every=1000),
        StageConfig(
            steps=200000,
            batch_size=256,
            lr=2e-4,
            warmup_steps=2000,
            ema_decay=0.9999,
            checkpoint_every=2000,
            sample_every=10000,
            log_every=100,
            weight_decay=0.01,
        ),
        EVERY_MODE,
    )


PRESETS: dict[str, TrainConfig] = {
    cfg.name: cfg for cfg in (_debug(), _shapes_tiny(), _shapes_64(), _base_256())
}


def get_preset(name: str) -> TrainConfig:
    if name not in PRESETS:
        raise KinemaError(f"unknown preset '{name}'; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
