"""Low-rank adapters (LoRA) for fine-tuning a trained transformer on new data.

An adapted linear computes `base(x) + (alpha / rank) · B(A(x))` with the base frozen, A
random and B zero, so a fresh adapter changes nothing. Adapters are saved apart from the
base weights (safetensors + their settings in the metadata) and can be merged into the base
for inference at no extra cost.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from kinema.errors import KinemaError

# Linear layers of the DiT blocks worth adapting: attention projections and the MLP.
DEFAULT_TARGETS = (
    "attn.qkv",
    "attn.proj",
    "cross_attn.q",
    "cross_attn.kv",
    "cross_attn.proj",
    "mlp.fc1",
    "mlp.fc2",
)


@dataclass(frozen=True)
class LoRAConfig:
    rank: int = 8
    alpha: float = 8.0
    targets: tuple[str, ...] = DEFAULT_TARGETS  # suffixes of module names to adapt


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base.requires_grad_(False)
        self.scale = alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))

    def forward(self, x: Tensor) -> Tensor:
        return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scale

    def merged(self) -> nn.Linear:
        """A plain linear with the adapter folded into its weight."""
        with torch.no_grad():
            self.base.weight += (self.lora_b @ self.lora_a) * self.scale
        return self.base.requires_grad_(True)


def _matches(name: str, targets: tuple[str, ...]) -> bool:
    return any(name == t or name.endswith("." + t) for t in targets)


def apply_lora(model: nn.Module, cfg: LoRAConfig) -> list[str]:
    """Freeze `model` and wrap every targeted linear; returns the adapted module names."""
    model.requires_grad_(False)
    adapted = []
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.Linear) and _matches(name, cfg.targets):
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, LoRALinear(module, cfg.rank, cfg.alpha))
            adapted.append(name)
    if not adapted:
        raise KinemaError(f"no linear layer matches the LoRA targets {cfg.targets}")
    return adapted


def lora_state_dict(model: nn.Module) -> dict[str, Tensor]:
    return {
        name: p.detach().contiguous().cpu()
        for name, p in model.named_parameters()
        if name.endswith(("lora_a", "lora_b"))
    }


def save_lora(path: Path, model: nn.Module, cfg: LoRAConfig) -> None:
    metadata = {"kinema_lora": json.dumps(asdict(cfg))}
    save_file(lora_state_dict(model), str(path), metadata=metadata)


def read_lora_config(path: Path) -> LoRAConfig:
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
    if "kinema_lora" not in metadata:
        raise KinemaError(f"'{path}' is not a Kinema LoRA adapter file")
    data = json.loads(metadata["kinema_lora"])
    return LoRAConfig(rank=data["rank"], alpha=data["alpha"], targets=tuple(data["targets"]))


def copy_lora_weights(model: nn.Module, weights: dict[str, Tensor], source: str) -> None:
    """Copy adapter tensors (as `lora_state_dict` names them) into an adapted model."""
    if set(weights) != set(lora_state_dict(model)):
        raise KinemaError(f"adapter '{source}' does not fit this model's layers")
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in weights.items():
            params[name].copy_(value)


def load_lora(model: nn.Module, path: Path) -> LoRAConfig:
    """Wrap `model` as the adapter file says and load the adapter weights into it."""
    cfg = read_lora_config(path)
    apply_lora(model, cfg)
    with safe_open(str(path), framework="pt") as handle:
        weights = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    copy_lora_weights(model, weights, str(path))
    return cfg


class AdaptersOnly(nn.Module):
    """An adapted model whose state dict is its adapters alone.

    Training code saves and restores `state_dict()`; for LoRA training that must be the
    adapters, not the frozen base weights, which stay in the base checkpoint.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, *args, **kwargs):
        return self.model(*args, **kwargs)

    def state_dict(self, *args, **kwargs) -> dict[str, Tensor]:  # type: ignore[override]
        return lora_state_dict(self.model)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):  # type: ignore[override]
        copy_lora_weights(self.model, dict(state_dict), "training state")


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every adapter into its base linear, in place; the model is plain again."""
    for name, module in list(model.named_modules()):
        if isinstance(module, LoRALinear):
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, module.merged())
    return model
