import pytest
import torch

from kinema.config import TransformerConfig
from kinema.dit import DiffusionTransformer
from kinema.errors import KinemaError
from kinema.lora import LoRAConfig, apply_lora, load_lora, lora_state_dict, merge_lora, save_lora

CFG = TransformerConfig(hidden_size=32, depth=2, num_heads=2, context_dim=16)


def _model() -> DiffusionTransformer:
    torch.manual_seed(0)
    model = DiffusionTransformer(CFG)
    with torch.no_grad():  # non-zero outputs, so the checks below can fail
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


def _inputs():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 2, 4, 4, generator=g)
    return (
        x,
        torch.rand(2, generator=g),
        torch.randn(2, 5, 16, generator=g),
        torch.ones(2, 5, dtype=torch.bool),
    )


def _train_a_little(model):
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(3):
        loss = model(*_inputs()).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def test_fresh_adapter_changes_nothing_and_only_adapters_train():
    model = _model()
    before = model(*_inputs())
    names = apply_lora(model, LoRAConfig(rank=4))
    assert len(names) == 7 * CFG.depth
    assert torch.equal(model(*_inputs()), before)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.endswith(("lora_a", "lora_b")) for n in trainable)
    _train_a_little(model)
    assert not torch.allclose(model(*_inputs()), before)


def test_save_load_and_merge(tmp_path):
    model = _model()
    apply_lora(model, LoRAConfig(rank=4, alpha=8))
    _train_a_little(model)
    adapted = model(*_inputs()).detach()
    path = tmp_path / "adapter.safetensors"
    save_lora(path, model, LoRAConfig(rank=4, alpha=8))
    assert path.stat().st_size < 64 * 1024  # the adapter only, not the base weights

    fresh = _model()
    cfg = load_lora(fresh, path)
    assert cfg.rank == 4
    assert torch.allclose(fresh(*_inputs()), adapted, atol=1e-6)
    merge_lora(fresh)
    assert not lora_state_dict(fresh)
    assert torch.allclose(fresh(*_inputs()), adapted, atol=1e-5)


def test_bad_adapters_are_refused(tmp_path):
    with pytest.raises(KinemaError, match="no linear layer"):
        apply_lora(_model(), LoRAConfig(targets=("nothing",)))
    from safetensors.torch import save_file

    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(1)}, str(plain))
    with pytest.raises(KinemaError, match="not a Kinema LoRA"):
        load_lora(_model(), plain)
