"""The optimisation loop shared by both training stages: steps, checkpoints, resume, logs."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from kinema.checkpoint import (
    SHARDED_STATE_DIR,
    TRAIN_STATE_FILE,
    atomic_directory,
    latest_checkpoint,
    prune_checkpoints,
    step_dir_name,
)
from kinema.config import StageConfig
from kinema.errors import KinemaError
from kinema.train.metrics import MetricsLog
from kinema.train.optim import EMA, make_optimizer, make_scheduler

MAX_NONFINITE_STEPS = 20


@dataclass
class Stage:
    """One stage of training: what is optimised and how a step, a save and a sample are made."""

    name: str
    folder: Path  # RUN/<name>/, holding step-XXXXXXXX checkpoints
    cfg: StageConfig
    modules: dict[str, nn.Module]  # trained modules by weight-file name
    # (step, shard = WHOLE_BATCH) -> {"loss": …, other metrics} on that shard of the batch
    loss_fn: Callable[..., dict[str, torch.Tensor]]
    save_fn: Callable[[Path, dict[str, nn.Module]], None]  # folder, inference modules
    samples_per_step: int
    sample_fn: Callable[[int, dict[str, nn.Module]], None] | None = None
    lr_scales: dict[str, float] = field(default_factory=dict)  # module name -> lr multiplier


class StageTrainer:
    show_progress = True  # a progress bar on the terminal

    def __init__(self, stage: Stage, metrics: MetricsLog) -> None:
        self.stage = stage
        self.metrics = metrics
        parameters = [p for m in stage.modules.values() for p in m.parameters() if p.requires_grad]
        self.parameters = parameters
        scales = {
            p: scale
            for name, scale in stage.lr_scales.items()
            for p in stage.modules[name].parameters()
        }
        self.optimizer = make_optimizer(parameters, stage.cfg, scales)
        self.scheduler = make_scheduler(self.optimizer, stage.cfg)
        self.ema = EMA(stage.modules, stage.cfg.ema_decay) if stage.cfg.ema_decay > 0 else None
        self.step = 0
        self.nonfinite_steps = 0

    # --- state ---------------------------------------------------------------------------

    def state_dict(self) -> dict:
        return {
            "step": self.step,
            "nonfinite_steps": self.nonfinite_steps,
            "modules": {name: m.state_dict() for name, m in self.stage.modules.items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "ema": self.ema.state_dict() if self.ema else None,
        }

    def resume(self) -> bool:
        """Continue from the stage's latest checkpoint, if there is one."""
        folder = latest_checkpoint(self.stage.folder)
        if folder is None:
            return False
        if (folder / SHARDED_STATE_DIR).is_dir():  # written by a multi-rank run
            from kinema.distributed.checkpoint import load_sharded_state

            self.step, self.nonfinite_steps = load_sharded_state(folder, self)
            return True
        # Our own training state: tensors and plain containers only, never arbitrary objects.
        state = torch.load(folder / TRAIN_STATE_FILE, map_location="cpu", weights_only=True)
        for name, module in self.stage.modules.items():
            module.load_state_dict(state["modules"][name])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.ema and state["ema"] is not None:
            self.ema.load_state_dict(state["ema"])
        self.step = int(state["step"])
        self.nonfinite_steps = int(state["nonfinite_steps"])
        return True

    def inference_modules(self) -> dict[str, nn.Module]:
        """The weights to ship: EMA copies where EMA is on, else the trained modules."""
        if self.ema is None:
            return self.stage.modules
        copies = {}
        for name, module in self.stage.modules.items():
            copies[name] = copy.deepcopy(module)
            self.ema.copy_to(name, copies[name])
        return copies

    def save(self) -> Path:
        final = self.stage.folder / step_dir_name(self.step)
        with atomic_directory(final) as folder:
            self.stage.save_fn(folder, self.inference_modules())
            torch.save(self.state_dict(), folder / TRAIN_STATE_FILE)
        prune_checkpoints(self.stage.folder, self.stage.cfg.keep_last)
        return final

    # --- loop ----------------------------------------------------------------------------

    def _train_step(self) -> tuple[dict[str, torch.Tensor], float]:
        """One optimizer step on the batch of `self.step`: its metrics and gradient norm."""
        losses = self.stage.loss_fn(self.step)
        return losses, self._optimizer_step(losses["loss"])

    def _optimizer_step(self, loss: torch.Tensor) -> float:
        """Backward, clip, step; a non-finite loss or gradient skips the update."""
        self.optimizer.zero_grad(set_to_none=True)
        if not torch.isfinite(loss):
            return self._skip("loss")
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.parameters, self.stage.cfg.grad_clip)
        if not torch.isfinite(norm):
            self.optimizer.zero_grad(set_to_none=True)
            return self._skip("gradient")
        self.optimizer.step()
        self.scheduler.step()
        if self.ema:
            self.ema.update(self.stage.modules, self.step)
        return float(norm)

    def _skip(self, what: str) -> float:
        self.nonfinite_steps += 1
        if self.nonfinite_steps > MAX_NONFINITE_STEPS:
            raise KinemaError(
                f"{self.stage.name} training stopped: non-finite {what} at step {self.step}, "
                f"{self.nonfinite_steps} skipped steps in all (limit {MAX_NONFINITE_STEPS}); "
                "lower the learning rate or resume from an earlier checkpoint"
            )
        return math.nan

    def train(self, until: int | None = None) -> None:
        """Train to the configured step count (or stop early at step `until`)."""
        cfg = self.stage.cfg
        last = cfg.steps if until is None else min(until, cfg.steps)
        for module in self.stage.modules.values():
            module.train()
        bar = tqdm(
            total=cfg.steps,
            initial=self.step,
            desc=self.stage.name,
            unit="step",
            disable=not self.show_progress,
        )
        window_start, window_steps = time.perf_counter(), 0
        while self.step < last:
            losses, grad_norm = self._train_step()
            self.step += 1
            window_steps += 1
            if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                elapsed = time.perf_counter() - window_start
                rate = window_steps * self.stage.samples_per_step / max(elapsed, 1e-9)
                record = {key: float(value.detach()) for key, value in losses.items()}
                record |= {
                    "stage": self.stage.name,
                    "step": self.step,
                    "lr": self.scheduler.get_last_lr()[0],
                    "grad_norm": grad_norm,
                    "samples_per_s": round(rate, 2),
                    "skipped_steps": self.nonfinite_steps,
                }
                self.metrics.write(record)
                bar.set_postfix(loss=f"{record['loss']:.4f}", samples_s=f"{rate:.1f}")
                window_start, window_steps = time.perf_counter(), 0
            bar.update(1)
            if self.step % cfg.checkpoint_every == 0 or self.step in (cfg.steps, last):
                self.save()
            if self.stage.sample_fn and cfg.sample_every and self.step % cfg.sample_every == 0:
                for module in self.stage.modules.values():
                    module.eval()
                self.stage.sample_fn(self.step, self.inference_modules())
                for module in self.stage.modules.values():
                    module.train()
        bar.close()
