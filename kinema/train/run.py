"""A whole training run: stage 1 (autoencoder) then stage 2 (transformer), resumable."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from kinema.autoencoder import VideoAutoencoder
from kinema.checkpoint import load_config, load_weights, resolve_checkpoint, save_weights
from kinema.config import TrainConfig, load_json, save_json, to_dict
from kinema.dit import DiffusionTransformer
from kinema.errors import KinemaError
from kinema.provenance import record_start
from kinema.text import build_text_encoder, is_trainable
from kinema.train.autoencoder_stage import autoencoder_stage
from kinema.train.blocks import compile_blocks
from kinema.train.latents import build_run_cache
from kinema.train.metrics import MetricsLog
from kinema.train.optim import EMA
from kinema.train.stage import Stage, StageTrainer
from kinema.train.transformer_stage import transformer_lr_scales, transformer_stage

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


def _differences(theirs: object, ours: object) -> list[str]:
    """Fields of config `ours` whose value in `theirs` differs, as "key theirs (run: ours)"."""
    theirs, ours = to_dict(theirs), to_dict(ours)
    return [f"{k} {theirs.get(k)} (run: {v})" for k, v in ours.items() if theirs.get(k) != v]


def _given_autoencoder(folder: Path, cfg: TrainConfig) -> VideoAutoencoder:
    """The trained autoencoder of checkpoint `folder`, refused unless its config is the run's."""
    differing = _differences(load_config(folder).autoencoder, cfg.model.autoencoder)
    if differing:
        raise KinemaError(
            f"the autoencoder of '{folder}' is not the run's: " + ", ".join(differing)
        )
    given = VideoAutoencoder(cfg.model.autoencoder)
    load_weights(folder, "autoencoder", given)  # a missing or corrupt file: no run is made
    return given


def _seed_stage1(run: Path, cfg: TrainConfig, autoencoder: VideoAutoencoder) -> Path:
    """Make the run and save `autoencoder` as its final stage-1 checkpoint."""
    prepare_run(run, cfg, resume=False)
    trainer = autoencoder_stage(cfg, run, torch.device("cpu"), MetricsLog(run / METRICS_FILE))
    modules = trainer.stage.modules
    modules["autoencoder"].load_state_dict(autoencoder.state_dict())
    if trainer.ema is not None:  # its average starts from the loaded weights
        trainer.ema = EMA(modules, trainer.ema.decay)
    trainer.step = cfg.autoencoder_stage.steps
    return trainer.save()


def start_from_autoencoder(run: Path, cfg: TrainConfig, source: Path) -> Path:
    """Start a new run whose stage 1 is the trained autoencoder of `source`.

    `source` is a checkpoint or run folder whose autoencoder has exactly the run's
    autoencoder config. Its weights are saved as the run's final stage-1 checkpoint, so the
    run (resumed like any other) trains only the transformer: a new transformer recipe on a
    fixed latent space. Returns the stage-1 checkpoint written.
    """
    run, folder = Path(run), resolve_checkpoint(Path(source))
    stage1 = _seed_stage1(run, cfg, _given_autoencoder(folder, cfg))
    record_start(run, "--autoencoder", folder, ["autoencoder"])
    return stage1


def start_from_model(run: Path, cfg: TrainConfig, source: Path) -> Path:
    """Start a new run from every trained weight of `source`: a warm start.

    The autoencoder becomes stage 1 (as `start_from_autoencoder`), and the transformer (with
    a trainable text encoder) is saved as the run's step-0 transformer checkpoint, with
    `source`'s latent statistics and a fresh optimiser: the run's transformer stage then
    trains on from those weights over its own schedule. Model configs must match field by
    field. Returns the step-0 checkpoint.
    """
    run, folder = Path(run), resolve_checkpoint(Path(source))
    config = load_config(folder)
    for part in ("transformer", "text"):
        differing = _differences(getattr(config, part), getattr(cfg.model, part))
        if differing:
            raise KinemaError(f"the {part} of '{folder}' is not the run's: " + ", ".join(differing))
    given: dict[str, nn.Module] = {"transformer": DiffusionTransformer(config.transformer)}
    if is_trainable(config.text):
        given["text_encoder"] = build_text_encoder(config.text)
    for name, module in given.items():
        load_weights(folder, name, module)  # a missing or corrupt file: no run is made
    autoencoder = _given_autoencoder(folder, cfg)
    _seed_stage1(run, cfg, autoencoder)

    def unused_loss(step: int, shard: object = None) -> dict[str, torch.Tensor]:
        raise RuntimeError("a warm start only writes the step-0 checkpoint")

    # The run's model config (its flow settings) with the latent statistics `source` learned on.
    model_config = replace(cfg.model, latent_mean=config.latent_mean, latent_std=config.latent_std)

    def save_fn(out: Path, modules: dict[str, nn.Module]) -> None:
        save_weights(out, model_config, {"autoencoder": autoencoder, **modules})

    stage = Stage(
        name="transformer",
        folder=run / "transformer",
        cfg=cfg.transformer_stage,
        modules=given,
        loss_fn=unused_loss,
        save_fn=save_fn,
        samples_per_step=cfg.transformer_stage.batch_size,
        lr_scales=transformer_lr_scales(cfg, given),
    )
    record_start(run, "--init", folder, ["autoencoder", *given])
    return StageTrainer(stage, MetricsLog(run / METRICS_FILE)).save()


def _compile(trainer: StageTrainer, cfg: TrainConfig) -> None:
    """--compile in one process: every trained module's blocks, as on ranks."""
    if cfg.parallel.compile:
        for module in trainer.stage.modules.values():
            compile_blocks(module)


def train(run: Path, cfg: TrainConfig, device: torch.device) -> Path:
    """Run both stages to their configured step counts; returns the final checkpoint."""
    run = Path(run)
    metrics = MetricsLog(run / METRICS_FILE)
    torch.manual_seed(cfg.seed)
    stage1 = autoencoder_stage(cfg, run, device, metrics)
    _compile(stage1, cfg)
    stage1.train()
    if cfg.data.cache:
        build_run_cache(run, cfg, device)
    stage2 = transformer_stage(cfg, run, device, metrics)
    _compile(stage2, cfg)
    stage2.train()
    return stage2.stage.folder / f"step-{stage2.step:08d}"
