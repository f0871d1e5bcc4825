"""The optimiser's schedule and the moving average of weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from kinema.config import StageConfig
from kinema.train.optim import EMA, lr_factor, make_optimizer


def test_ema_follows_the_ramped_decay() -> None:
    torch.manual_seed(0)
    modules = {"a": nn.Linear(3, 2), "b": nn.LayerNorm(4)}
    ema = EMA(modules, decay=0.9)
    start = {k: v.clone() for k, v in ema.state_dict().items()}
    with torch.no_grad():
        for module in modules.values():
            for p in module.parameters():
                p.add_(1.0)
    ema.update(modules, step=5)
    weight = 1 - min(0.9, 6 / 15)  # the decay ramps as (1 + step) / (10 + step)
    for name, module in modules.items():
        for key, p in module.named_parameters():
            expected = start[f"{name}.{key}"] + weight * (p.detach() - start[f"{name}.{key}"])
            torch.testing.assert_close(ema.state_dict()[f"{name}.{key}"], expected)
    copy = nn.Linear(3, 2)
    ema.copy_to("a", copy)
    torch.testing.assert_close(copy.weight, ema.state_dict()["a.weight"])


def test_optimizer_groups_and_schedule() -> None:
    cfg = StageConfig(steps=100, lr=1e-3, warmup_steps=10, weight_decay=0.1)
    model = nn.Linear(4, 4)
    optimizer = make_optimizer(list(model.parameters()), cfg)
    decays = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    assert decays == {id(model.weight): 0.1, id(model.bias): 0.0}
    assert lr_factor(0, cfg) == pytest.approx(0.1)
    assert lr_factor(9, cfg) == pytest.approx(1.0)
    assert lr_factor(100, cfg) == pytest.approx(0.1)
    model(torch.randn(2, 4)).sum().backward()
    before = model.weight.detach().clone()
    optimizer.step()
    assert not torch.equal(before, model.weight)
