"""Stage 2: the diffusion transformer and the text encoder on frozen autoencoder latents."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from kinema.autoencoder import VideoAutoencoder
from kinema.checkpoint import latest_checkpoint, load_config, load_weights, save_weights
from kinema.config import TrainConfig
from kinema.data.video_io import write_video
from kinema.dit import DiffusionTransformer
from kinema.model import KinemaModel, with_latent_stats
from kinema.pipeline import GenerationRequest, generate
from kinema.text import build_text_encoder, is_trainable
from kinema.train.flow_loss import latent_flow_loss
from kinema.train.latents import LatentSource, latent_source
from kinema.train.metrics import MetricsLog
from kinema.train.shards import WHOLE_BATCH, BatchShard
from kinema.train.stage import Stage, StageTrainer
from kinema.world import WorldDataset

STATS_SAMPLES = 256
SAMPLE_PROMPTS = 4


@torch.no_grad()
def measure_latent_stats(source: LatentSource) -> tuple[Tensor, Tensor]:
    """Per-channel mean and standard deviation of posterior means over example clips."""
    batches = []
    for start in range(0, STATS_SAMPLES, 32):
        batches.append(source.example_latents(start, 32))  # (C, B·t·h·w)
    latents = torch.cat(batches, dim=1)
    return latents.mean(1).cpu(), latents.std(1).clamp_min(1e-3).cpu()


def transformer_stage(
    cfg: TrainConfig,
    run: Path,
    device: torch.device,
    metrics: MetricsLog,
    make_trainer: Callable[[Stage, MetricsLog], StageTrainer] = StageTrainer,
) -> StageTrainer:
    """Build (and resume, if a checkpoint exists) the transformer stage of a run."""
    autoencoder_checkpoint = latest_checkpoint(run / "autoencoder")
    if autoencoder_checkpoint is None:
        raise RuntimeError("the transformer stage needs a trained autoencoder checkpoint")
    autoencoder = VideoAutoencoder(cfg.model.autoencoder)
    load_weights(autoencoder_checkpoint, "autoencoder", autoencoder)
    autoencoder.to(device).eval().requires_grad_(False)

    batch_size = cfg.transformer_stage.batch_size
    source = latent_source(cfg, run, autoencoder, device, cfg.seed + 1, batch_size)
    resumed_from = latest_checkpoint(run / "transformer")
    if resumed_from is not None:
        model_config = load_config(resumed_from)  # the latent statistics it was trained with
    else:
        mean, std = measure_latent_stats(source)
        model_config = with_latent_stats(cfg.model, mean, std)
    model_config = replace(
        model_config, height=cfg.world.height, width=cfg.world.width, frames=cfg.world.frames
    )
    model_config = replace(model_config, fps=cfg.world.fps)

    torch.manual_seed(cfg.seed)  # the same initial weights on every start
    transformer = DiffusionTransformer(model_config.transformer).to(device)
    transformer.init_weights()
    text_encoder = build_text_encoder(model_config.text).to(device)
    bundle = KinemaModel(model_config, autoencoder, transformer, text_encoder)

    def loss_fn(step: int, shard: BatchShard = WHOLE_BATCH) -> dict[str, Tensor]:
        return {"loss": latent_flow_loss(bundle, source, cfg.seed, step, shard, cfg.conditioning)}

    def save_fn(folder: Path, modules: dict[str, nn.Module]) -> None:
        save_weights(folder, model_config, {"autoencoder": autoencoder, **modules})

    def sample_fn(step: int, modules: dict[str, nn.Module]) -> None:
        model = KinemaModel(
            model_config,
            autoencoder,
            modules["transformer"],
            modules.get("text_encoder", text_encoder),
        )
        write_samples(model, run / "samples", step, cfg, source.sample_prompts(SAMPLE_PROMPTS))

    trained: dict[str, nn.Module] = {"transformer": transformer}
    if is_trainable(model_config.text):
        trained["text_encoder"] = text_encoder
    stage = Stage(
        name="transformer",
        folder=run / "transformer",
        cfg=cfg.transformer_stage,
        modules=trained,
        loss_fn=loss_fn,
        save_fn=save_fn,
        samples_per_step=batch_size,
        sample_fn=sample_fn,
        lr_scales=transformer_lr_scales(cfg, trained),
    )
    trainer = make_trainer(stage, metrics)
    trainer.resume()
    return trainer


def transformer_lr_scales(cfg: TrainConfig, trained: dict[str, nn.Module]) -> dict[str, float]:
    """The learning-rate multipliers of stage 2: a trained text encoder's, if there is one."""
    if "text_encoder" not in trained:
        return {}
    return {"text_encoder": cfg.transformer_stage.text_lr_scale}


def write_samples(
    model: KinemaModel, folder: Path, step: int, cfg: TrainConfig, prompts: list[str] | None = None
) -> Path:
    """A few fixed prompts side by side in one mp4; the prompts go to a .txt beside it."""
    captions = prompts or WorldDataset(cfg.world, seed=12345).batch(0, SAMPLE_PROMPTS)[1]
    model.eval()
    videos = [generate(model, GenerationRequest(prompt=c, seed=i)) for i, c in enumerate(captions)]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"transformer-step-{step:08d}.mp4"
    write_video(np.concatenate(videos, axis=2), path, cfg.world.fps)  # (T, H, B·W, 3)
    path.with_suffix(".txt").write_text("\n".join(captions) + "\n")
    return path
