"""Named training presets: a registry of complete, frozen run configurations."""

from __future__ import annotations

from kinema.config import (
    AutoencoderConfig,
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
) -> TrainConfig:
    """A run whose model generates, by default, the clips its world draws."""
    geometry = {"height": world.height, "width": world.width, "frames": world.frames}
    return TrainConfig(
        name=name,
        world=world,
        model=ModelConfig(autoencoder, transformer, text, flow, fps=world.fps, **geometry),
        autoencoder_stage=autoencoder_stage,
        transformer_stage=transformer_stage,
    )


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
    """One object at 32×32, 9 frames over 2 seconds: recognisable in under 30 minutes on 2 cores.

    8 latent channels keep small shapes' corners (a 4-channel latent turned every star into a
    blob); the transformer stage encodes a pool of 16k clips once, so its steps cost only the
    transformer, and its adaLN also sees the pooled prompt.
    """
    return _run(
        "shapes-tiny",
        WorldConfig(height=32, width=32, frames=9, fps=4, max_objects=1, latent_pool=16384),
        AutoencoderConfig(latent_channels=8, base_channels=32),
        TransformerConfig(
            latent_channels=8,
            hidden_size=128,
            depth=4,
            num_heads=4,
            patch_size=(1, 2, 2),
            context_dim=128,
            pooled_text=True,
        ),
        TextConfig(vocabulary=tuple(vocabulary()), width=128, depth=2, num_heads=4),
        FlowConfig(sample_steps=25, guidance=4.0),
        StageConfig(
            steps=2000,
            batch_size=16,
            lr=1e-3,
            warmup_steps=50,
            checkpoint_every=500,
            sample_every=1000,
            log_every=25,
        ),
        StageConfig(
            steps=6500,
            batch_size=32,
            lr=1e-3,
            warmup_steps=200,
            ema_decay=0.999,
            checkpoint_every=500,
            sample_every=3250,
            log_every=25,
            weight_decay=0.01,
        ),
    )


PRESETS: dict[str, TrainConfig] = {cfg.name: cfg for cfg in (_debug(), _shapes_tiny())}


def get_preset(name: str) -> TrainConfig:
    if name not in PRESETS:
        raise KinemaError(f"unknown preset '{name}'; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
