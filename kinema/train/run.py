"""A whole training run: stage 1 (autoencoder) then stage 2 (transformer), resumable."""

from __future__ import annotations

from pathlib import Path

import torch

from kinema.autoencoder import VideoAutoencoder
from kinema.checkpoint import load_config, load_weights, resolve_checkpoint
from kinema.config import TrainConfig, load_json, save_json, to_dict
from kinema.errors import KinemaError
from kinema.train.autoencoder_stage import autoencoder_stage
from kinema.train.latents import build_run_cache
from kinema.train.metrics import MetricsLog
from kinema.train.optim import EMA
from kinema.train.transformer_stage import transformer_stage

RUN_CONFIG_FILE = "train_config.json"
METRICS_FILE = "metrics.jsonl"


def prepare_run(run: Path, cfg: TrainConfig | None, resume: bool) -> TrainConfig:
    """Create a run folder, or reopen one with --resume; returns the run's config."""
    run = Path(run)
    config_path = run / RUN_CONFIG_FILE
    if config_path.exists():
        if not resume:
            raise KinemaError(
                f"'{run}' already holds a training run; pass --resume to continue it "
                "or choose another --out"
            )
        return load_json(TrainConfig, config_path)
    if cfg is None:
        raise KinemaError(f"'{run}' holds no training run to resume; pass --preset to start one")
    if run.exists() and not run.is_dir():
        raise KinemaError(f"--out '{run}' is a file, not a folder")
    run.mkdir(parents=True, exist_ok=True)
    save_json(cfg, config_path)
    return cfg


def start_from_autoencoder(run: Path, cfg: TrainConfig, source: Path) -> Path:
    """Start a new run whose stage 1 is the trained autoencoder of `source`.

    `source` is a checkpoint or run folder whose autoencoder has exactly the run's
    autoencoder config. Its weights are saved as the run's final stage-1 checkpoint, so the
    run (resumed like any other) trains only the transformer: a new transformer recipe on a
    fixed latent space. Returns the stage-1 checkpoint written.
    """
    run, folder = Path(run), resolve_checkpoint(Path(source))
    theirs, ours = to_dict(load_config(folder).autoencoder), to_dict(cfg.model.autoencoder)
    differing = [
        f"{key} {theirs.get(key)} (run: {value})"
        for key, value in ours.items()
        if theirs.get(key) != value
    ]
    if differing:
        raise KinemaError(
            f"the autoencoder of '{folder}' is not the run's: " + ", ".join(differing)
        )
    given = VideoAutoencoder(cfg.model.autoencoder)
    load_weights(folder, "autoencoder", given)  # a missing or corrupt file: no run is made
    prepare_run(run, cfg, resume=False)
    trainer = autoencoder_stage(cfg, run, torch.device("cpu"), MetricsLog(run / METRICS_FILE))
    modules = trainer.stage.modules
    modules["autoencoder"].load_state_dict(given.state_dict())
    if trainer.ema is not None:  # its average starts from the loaded weights
        trainer.ema = EMA(modules, trainer.ema.decay)
    trainer.step = cfg.autoencoder_stage.steps
    return trainer.save()


def train(run: Path, cfg: TrainConfig, device: torch.device) -> Path:
    """Run both stages to their configured step counts; returns the final checkpoint."""
    run = Path(run)
    metrics = MetricsLog(run / METRICS_FILE)
    torch.manual_seed(cfg.seed)
    stage1 = autoencoder_stage(cfg, run, device, metrics)
    stage1.train()
    if cfg.data.cache:
        build_run_cache(run, cfg, device)
    stage2 = transformer_stage(cfg, run, device, metrics)
    stage2.train()
    return stage2.stage.folder / f"step-{stage2.step:08d}"
