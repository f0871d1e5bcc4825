"""Fine-tuning a trained model on your own clips: the whole transformer, or LoRA adapters.

The autoencoder stays frozen, so the clips become latents exactly as the base model's
training data did. Full fine-tuning trains the transformer (and the learned text encoder;
a frozen pretrained one stays frozen) and writes ordinary checkpoints under
DIR/transformer/, so DIR loads like a run folder. LoRA fine-tuning trains only low-rank
adapters on the transformer's attention and MLP layers (the text encoder stays as the
base has it) and writes only the adapters, under DIR/lora/ (see `kinema.adapter`). Both
run on `StageTrainer`, so both resume exactly from their own checkpoints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from kinema.adapter import LORA_STAGE, checkpoint_identity, save_adapter
from kinema.checkpoint import resolve_checkpoint, save_weights, step_dir_name
from kinema.config import DataConfig, StageConfig, TrainConfig, WorldConfig, from_dict, to_dict
from kinema.data.index import read_index
from kinema.errors import KinemaError
from kinema.lora import AdaptersOnly, LoRAConfig, apply_lora
from kinema.model import KinemaModel, load_model
from kinema.text import is_trainable
from kinema.train.batches import batch_source
from kinema.train.flow_loss import latent_flow_loss
from kinema.train.latents import EncodedLatents, LatentSource
from kinema.train.metrics import MetricsLog
from kinema.train.shards import WHOLE_BATCH, BatchShard
from kinema.train.stage import Stage, StageTrainer

FINETUNE_FILE = "finetune.json"
METRICS_FILE = "metrics.jsonl"
FULL_STAGE = "transformer"  # DIR/transformer/step-*: what a run folder's checkpoints are
# Adapters start at zero and have few parameters: they take a larger step than full weights.
FULL_LR, LORA_LR = 1e-4, 1e-3


@dataclass(frozen=True)
class FinetuneConfig:
    """One fine-tuning run: which model, which clips, how to optimise, full or LoRA."""

    checkpoint: str  # the base checkpoint folder, resolved when fine-tuning starts
    index: str  # CSV/JSONL index of the clips (`kinema data scan`)
    stage: StageConfig
    lora_rank: int = 0  # 0: full fine-tuning
    lora_alpha: float = 0.0
    seed: int = 0

    @property
    def lora(self) -> LoRAConfig | None:
        if self.lora_rank == 0:
            return None
        return LoRAConfig(rank=self.lora_rank, alpha=self.lora_alpha)


def finetune_config(
    checkpoint: Path,
    index: Path,
    steps: int = 200,
    lr: float | None = None,
    batch_size: int = 4,
    lora_rank: int | None = None,
    lora_alpha: float | None = None,
    seed: int = 0,
) -> FinetuneConfig:
    """A checked config; bad input is refused before any work. No rank: full fine-tuning."""
    base = resolve_checkpoint(Path(checkpoint))
    read_index(Path(index))  # refuses a missing index or a path that leaves its folder
    if lora_rank is not None and lora_rank < 1:
        raise KinemaError(f"LoRA rank must be at least 1, got {lora_rank}")
    if lora_alpha is not None and (lora_rank is None or lora_alpha <= 0):
        raise KinemaError("LoRA alpha must be positive and comes with a LoRA rank")
    if steps < 1 or batch_size < 1:
        raise KinemaError(f"steps and batch size must be at least 1, got {steps}, {batch_size}")
    if lr is not None and lr <= 0:
        raise KinemaError(f"learning rate must be positive, got {lr}")
    stage = StageConfig(
        steps=steps,
        batch_size=batch_size,
        lr=lr or (LORA_LR if lora_rank else FULL_LR),
        warmup_steps=max(1, min(50, steps // 10)),
        log_every=min(10, steps),
        checkpoint_every=100,
    )
    return FinetuneConfig(
        checkpoint=str(base.resolve()),
        index=str(Path(index).resolve()),
        stage=stage,
        lora_rank=lora_rank or 0,
        lora_alpha=float(lora_alpha or lora_rank or 0),
        seed=seed,
    )


# --- the fine-tuning folder ------------------------------------------------------------


def read_finetune(out: Path) -> tuple[FinetuneConfig, dict]:
    """A fine-tuning folder's config and the identity of the base it started from."""
    record = json.loads((Path(out) / FINETUNE_FILE).read_text())
    return from_dict(FinetuneConfig, record["config"]), record["base"]


def prepare_finetune(out: Path, cfg: FinetuneConfig | None, resume: bool) -> FinetuneConfig:
    """Create a fine-tuning folder, or reopen one with `resume`; returns its config."""
    out = Path(out)
    if (out / FINETUNE_FILE).is_file():
        if not resume:
            raise KinemaError(
                f"'{out}' already holds a fine-tuning run; pass --resume to continue it "
                "or choose another --out"
            )
        stored, _ = read_finetune(out)
        if cfg is not None and cfg != stored:
            raise KinemaError(f"'{out}' fine-tunes with other settings; resume it with --resume")
        return stored
    if cfg is None:
        raise KinemaError(
            f"'{out}' holds no fine-tuning run to resume; pass --checkpoint and --data"
        )
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise KinemaError(f"--out '{out}' exists and is not a fine-tuning folder")
    out.mkdir(parents=True, exist_ok=True)
    record = {"config": to_dict(cfg), "base": checkpoint_identity(Path(cfg.checkpoint))}
    (out / FINETUNE_FILE).write_text(json.dumps(record, indent=2) + "\n")
    return cfg


def load_base(out: Path, device: torch.device) -> KinemaModel:
    """The base model of a fine-tuning folder, refused if its weights changed since."""
    cfg, base = read_finetune(out)
    if checkpoint_identity(resolve_checkpoint(Path(cfg.checkpoint)))["sha256"] != base["sha256"]:
        raise KinemaError(f"base checkpoint '{cfg.checkpoint}' changed since '{out}' began")
    return load_model(Path(cfg.checkpoint), device)


def clip_latents(cfg: FinetuneConfig, model: KinemaModel, device: torch.device) -> LatentSource:
    """The clips of the index, cut to buckets of the model's geometry, through its autoencoder."""
    m = model.config
    run = TrainConfig(
        name="finetune",
        seed=cfg.seed,
        world=WorldConfig(height=m.height, width=m.width, frames=m.frames, fps=m.fps),
        model=m,
        transformer_stage=cfg.stage,
        data=DataConfig(index=cfg.index),
    )
    pixels = batch_source(run, cfg.seed + 1, cfg.stage.batch_size)
    return EncodedLatents(pixels, model.autoencoder, device)


# --- the stage -------------------------------------------------------------------------


def finetune_stage(
    out: Path, model: KinemaModel, latents: LatentSource, metrics: MetricsLog
) -> StageTrainer:
    """Build (and resume, if `out` has a checkpoint) the fine-tuning of `model` on `latents`.

    For LoRA, `model.transformer` is wrapped with adapters in place.
    """
    out = Path(out)
    cfg, base = read_finetune(out)
    lora = cfg.lora
    model.autoencoder.eval().requires_grad_(False)
    trains_text = lora is None and is_trainable(model.config.text)
    model.text_encoder.requires_grad_(trains_text)
    modules: dict[str, nn.Module]
    if lora is None:
        model.transformer.requires_grad_(True)
        modules = {"transformer": model.transformer}
        if trains_text:
            modules["text_encoder"] = model.text_encoder

        def save_fn(folder: Path, trained: dict[str, nn.Module]) -> None:
            save_weights(folder, model.config, {"autoencoder": model.autoencoder, **trained})

    else:
        device = model.device
        torch.manual_seed(cfg.seed)  # the same initial adapters on every start
        apply_lora(model.transformer, lora)
        model.transformer.to(device)
        modules = {"transformer": AdaptersOnly(model.transformer)}

        def save_fn(folder: Path, trained: dict[str, nn.Module]) -> None:
            save_adapter(folder, model, lora, base)

    def loss_fn(step: int, shard: BatchShard = WHOLE_BATCH) -> dict[str, Tensor]:
        return {"loss": latent_flow_loss(model, latents, cfg.seed, step, shard)}

    stage = Stage(
        name="finetune" if lora is None else "lora",
        folder=out / (FULL_STAGE if lora is None else LORA_STAGE),
        cfg=cfg.stage,
        modules=modules,
        loss_fn=loss_fn,
        save_fn=save_fn,
        samples_per_step=cfg.stage.batch_size,
    )
    trainer = StageTrainer(stage, metrics)
    trainer.resume()
    return trainer


def finetune_trainer(out: Path, device: torch.device) -> StageTrainer:
    """The base model of a prepared fine-tuning folder, on its clips, ready to train."""
    model = load_base(out, device)
    cfg, _ = read_finetune(out)
    latents = clip_latents(cfg, model, device)
    return finetune_stage(out, model, latents, MetricsLog(Path(out) / METRICS_FILE))


def finetune(out: Path, device: torch.device) -> Path:
    """Fine-tune to the configured step count; returns the last checkpoint or adapter folder."""
    trainer = finetune_trainer(out, device)
    trainer.train()
    return trainer.stage.folder / step_dir_name(trainer.step)
