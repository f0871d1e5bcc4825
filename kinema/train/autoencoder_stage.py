"""Stage 1: the video autoencoder, trained on world clips with reconstruction + KL losses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from kinema.autoencoder import VideoAutoencoder, autoencoder_loss
from kinema.checkpoint import save_weights
from kinema.config import TrainConfig
from kinema.data.video_io import write_video
from kinema.pipeline import frames_to_video, video_to_frames
from kinema.train.batches import BatchSource, batch_source
from kinema.train.metrics import MetricsLog
from kinema.train.shards import WHOLE_BATCH, BatchShard
from kinema.train.stage import Stage, StageTrainer

SAMPLE_CLIPS = 4


def autoencoder_stage(
    cfg: TrainConfig,
    run: Path,
    device: torch.device,
    metrics: MetricsLog,
    make_trainer: Callable[[Stage, MetricsLog], StageTrainer] = StageTrainer,
) -> StageTrainer:
    """Build (and resume, if a checkpoint exists) the autoencoder stage of a run."""
    torch.manual_seed(cfg.seed)  # the same initial weights on every start
    autoencoder = VideoAutoencoder(cfg.model.autoencoder).to(device)
    batch_size = cfg.autoencoder_stage.batch_size
    source = batch_source(cfg, cfg.seed, batch_size, cfg.autoencoder_stage.clip_frames)

    def loss_fn(step: int, shard: BatchShard = WHOLE_BATCH) -> dict[str, torch.Tensor]:
        frames, _ = source.batch(step)
        ae = cfg.model.autoencoder
        count, pixel_frames, height, width = frames.shape[:4]  # frames (B, T, H, W, 3)
        latent_shape = (
            count,
            ae.latent_channels,
            VideoAutoencoder.latent_frames(pixel_frames),
            height // ae.spatial_compression,
            width // ae.spatial_compression,
        )
        torch.manual_seed(cfg.seed * 1_000_003 + step)  # posterior sampling noise
        noise = torch.randn(latent_shape, device=device)  # the whole batch's, then our rows
        video = frames_to_video(shard.take(frames), device)
        output = autoencoder(video, sample=True, noise=shard.take(noise))
        return autoencoder_loss(video, output, ae.kl_weight, ae.foreground_weight)

    def save_fn(folder: Path, modules: dict[str, nn.Module]) -> None:
        save_weights(folder, cfg.model, {"autoencoder": modules["autoencoder"]})

    def sample_fn(step: int, modules: dict[str, nn.Module]) -> None:
        write_reconstructions(modules["autoencoder"], source, run / "samples", step, cfg)

    stage = Stage(
        name="autoencoder",
        folder=run / "autoencoder",
        cfg=cfg.autoencoder_stage,
        modules={"autoencoder": autoencoder},
        loss_fn=loss_fn,
        save_fn=save_fn,
        samples_per_step=batch_size,
        sample_fn=sample_fn,
    )
    trainer = make_trainer(stage, metrics)
    trainer.resume()
    return trainer


@torch.no_grad()
def write_reconstructions(
    autoencoder: nn.Module, source: BatchSource, folder: Path, step: int, cfg: TrainConfig
) -> Path:
    """Originals on the top row, reconstructions below, as one mp4."""
    frames, _ = source.examples(10_000_000, SAMPLE_CLIPS)  # far from the training indices
    device = next(autoencoder.parameters()).device
    mean, _ = autoencoder.encode(frames_to_video(frames, device))
    reconstruction = np.stack(
        [video_to_frames(autoencoder.decode(mean[i : i + 1])) for i in range(len(frames))]
    )
    # (B, T, H, W, 3) twice -> (T, 2H, B·W, 3)
    top = np.concatenate(list(frames), axis=2)
    bottom = np.concatenate(list(reconstruction), axis=2)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"autoencoder-step-{step:08d}.mp4"
    write_video(np.concatenate([top, bottom], axis=1), path, cfg.world.fps)
    return path
