"""Optimiser, learning-rate schedule and exponential moving average of weights."""

import math

import torch
from torch import nn

from kinema.config import StageConfig


def make_optimizer(
    parameters: list[nn.Parameter],
    cfg: StageConfig,
    lr_scales: dict[nn.Parameter, float] | None = None,
) -> torch.optim.AdamW:
    """AdamW over `parameters`; `lr_scales` multiplies the rate of the parameters it names
    (the schedule then scales every group alike)."""
    scales = lr_scales or {}
    groups = []
    for scale in dict.fromkeys([1.0, *scales.values()]):
        chosen = [p for p in parameters if scales.get(p, 1.0) == scale]
        # No weight decay on gains, biases and embeddings-like vectors (1-D tensors).
        decay = [p for p in chosen if p.ndim >= 2]
        no_decay = [p for p in chosen if p.ndim < 2]
        lr = cfg.lr * scale
        groups.append({"params": decay, "weight_decay": cfg.weight_decay, "lr": lr})
        groups.append({"params": no_decay, "weight_decay": 0.0, "lr": lr})
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.99))


def lr_factor(step: int, cfg: StageConfig) -> float:
    """Linear warm-up, then cosine decay to 10% of the peak at the last step."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: StageConfig):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, cfg))


class EMA:
    """Float32 shadow copies of the trained parameters of several modules.

    The decay ramps up as (1 + step) / (10 + step) so short runs are not dominated by
    their random initialisation.
    """

    def __init__(self, modules: dict[str, nn.Module], decay: float) -> None:
        self.decay = decay
        self.shadow = {
            f"{name}.{key}": p.detach().float().clone()
            for name, module in modules.items()
            for key, p in module.named_parameters()
        }

    @torch.no_grad()
    def update(self, modules: dict[str, nn.Module], step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        for name, module in modules.items():
            for key, p in module.named_parameters():
                self.shadow[f"{name}.{key}"].lerp_(p.detach().float(), 1 - decay)

    @torch.no_grad()
    def copy_to(self, name: str, module: nn.Module) -> None:
        """Write the averaged weights of one module into `module` (an inference copy)."""
        for key, p in module.named_parameters():
            p.copy_(self.shadow[f"{name}.{key}"])

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.shadow)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for key, value in state.items():
            self.shadow[key].copy_(value)
