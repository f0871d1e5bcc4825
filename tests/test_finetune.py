"""Fine-tuning a trained model on your own clips: fully, or with LoRA adapters."""

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open

from kinema.adapter import ADAPTER_FILE, ADAPTER_INFO, load_with_adapter, merge_adapter
from kinema.checkpoint import resolve_checkpoint, save_weights
from kinema.config import TextConfig
from kinema.data.lavfi import corpus_plan, write_lavfi_clip
from kinema.errors import KinemaError
from kinema.model import build_model, load_model
from kinema.pipeline import GenerationRequest, generate
from kinema.train.finetune import (
    FINETUNE_FILE,
    METRICS_FILE,
    finetune,
    finetune_config,
    finetune_trainer,
    prepare_finetune,
)
from kinema.train.metrics import read_metrics

CPU = torch.device("cpu")
PROMPT = "testsrc2 pattern"


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """A scanned-on-the-fly index of three small lavfi clips."""
    root = tmp_path_factory.mktemp("finetune-clips")
    rows = ["path,text"]
    for clip in corpus_plan(3, seed=5):
        write_lavfi_clip(clip, root)
        rows.append(f'{clip.name}.mp4,"{clip.text}"')
    (root / "index.csv").write_text("\n".join(rows) + "\n")
    return root / "index.csv"


def run_finetune(out, debug_run, clips, steps=3, **options):
    prepare_finetune(out, finetune_config(debug_run, clips, steps=steps, **options), False)
    return finetune(out, CPU)


@pytest.fixture(scope="module")
def full(tmp_path_factory, debug_run, clips):
    out = tmp_path_factory.mktemp("full") / "out"
    run_finetune(out, debug_run, clips, lr=1e-3)
    return out


@pytest.fixture(scope="module")
def lora(tmp_path_factory, debug_run, clips):
    out = tmp_path_factory.mktemp("lora") / "out"
    run_finetune(out, debug_run, clips, lora_rank=4, lr=0.1)  # debug gates are ~0
    return out


@torch.no_grad()
def velocity(model) -> torch.Tensor:
    """The transformer's output on a fixed latent, time and prompt."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 4, 2, 4, 4, generator=g)  # the debug preset's latent of 5x16x16
    context, mask = model.text_encoder.encode([PROMPT])
    return model.transformer(x, torch.tensor([0.6]), context, mask)


def weights(module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_full_finetuning_writes_an_ordinary_checkpoint_with_new_outputs(debug_run, full):
    base, tuned = load_model(debug_run), load_model(full)  # DIR loads like a run folder
    assert resolve_checkpoint(full).parent == full / "transformer"
    assert not torch.allclose(velocity(tuned), velocity(base), atol=1e-4)
    for name in ("transformer", "text_encoder"):  # the learned text encoder trains too
        before, after = weights(getattr(base, name)), weights(getattr(tuned, name))
        assert any(not torch.equal(before[k], after[k]) for k in before), name
    before, after = weights(base.autoencoder), weights(tuned.autoencoder)
    assert all(torch.equal(before[k], after[k]) for k in before)  # frozen
    assert tuned.config == base.config


def test_lora_writes_only_small_adapters_that_change_the_outputs(debug_run, full, lora):
    folder = sorted((lora / "lora").iterdir())[-1]
    assert {p.name for p in folder.iterdir()} == {
        ADAPTER_FILE,
        ADAPTER_INFO,
        "config.json",
        "train_state.pt",
    }
    with safe_open(str(folder / ADAPTER_FILE), framework="pt") as handle:
        names = set(handle.keys())
    assert names and all(n.endswith(("lora_a", "lora_b")) for n in names)
    state = torch.load(folder / "train_state.pt", weights_only=True)
    assert set(state["modules"]) == {"transformer"}
    assert set(state["modules"]["transformer"]) == names  # no base weights in the state
    info = json.loads((folder / ADAPTER_INFO).read_text())
    assert info["lora"]["rank"] == 4 and info["base"]["path"] == str(resolve_checkpoint(debug_run))

    base_files = resolve_checkpoint(debug_run).glob("*.safetensors")
    base_bytes = sum(p.stat().st_size for p in base_files)
    adapter_bytes = sum(p.stat().st_size for p in folder.iterdir())
    assert adapter_bytes * 10 < base_bytes, (adapter_bytes, base_bytes)

    # Fresh adapters change nothing at all (tests/test_lora.py); trained ones do.
    base, adapted = load_model(debug_run), load_with_adapter(debug_run, lora)
    assert (velocity(adapted) - velocity(base)).abs().max() > 1e-6


def test_base_plus_adapter_equals_the_merged_checkpoint(debug_run, lora, tmp_path):
    merged_folder = merge_adapter(debug_run, lora, tmp_path / "merged")
    adapted, merged = load_with_adapter(debug_run, lora), load_model(merged_folder)
    effect = (velocity(adapted) - velocity(load_model(debug_run))).abs().max()
    assert (velocity(merged) - velocity(adapted)).abs().max() < 1e-3 * effect
    request = GenerationRequest(prompt=PROMPT, seed=2)
    difference = generate(merged, request).astype(int) - generate(adapted, request)
    assert np.abs(difference).max() <= 1  # equal up to a rounding of a uint8 level
    with pytest.raises(KinemaError, match="already exists"):
        merge_adapter(debug_run, lora, merged_folder)


@pytest.mark.parametrize("rank", [None, 4])
def test_a_killed_finetuning_resumes_exactly(debug_run, clips, tmp_path, rank):
    cfg = finetune_config(debug_run, clips, steps=4, lora_rank=rank)
    cfg = dataclasses.replace(
        cfg, stage=dataclasses.replace(cfg.stage, log_every=1, checkpoint_every=2)
    )
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    for out in (straight, interrupted):
        prepare_finetune(out, cfg, resume=False)
    final = finetune(straight, CPU)
    finetune_trainer(interrupted, CPU).train(until=2)  # stops as a run killed after step 2
    assert prepare_finetune(interrupted, cfg, resume=True) == cfg
    assert finetune(interrupted, CPU).name == final.name

    def losses(out):
        return {r["step"]: r["loss"] for r in read_metrics(out / METRICS_FILE)}

    assert len(losses(straight)) == 4
    assert losses(interrupted) == pytest.approx(losses(straight), rel=1e-6)
    file = ADAPTER_FILE if rank else "transformer.safetensors"
    with (
        safe_open(str(final / file), framework="pt") as a,
        safe_open(str(interrupted / final.parent.name / final.name / file), framework="pt") as b,
    ):
        for key in a.keys():  # noqa: SIM118
            torch.testing.assert_close(a.get_tensor(key), b.get_tensor(key))


def test_a_frozen_pretrained_text_encoder_stays_frozen(debug_run, clips, tmp_path):
    """Full fine-tuning of a model with MiniLM text trains the transformer alone."""
    base = load_model(debug_run).config
    config = dataclasses.replace(
        base,
        text=TextConfig(kind="minilm", max_tokens=32),
        transformer=dataclasses.replace(base.transformer, context_dim=384),
    )
    model = build_model(config)
    parts = {"autoencoder": model.autoencoder, "transformer": model.transformer}
    (tmp_path / "base").mkdir()
    save_weights(tmp_path / "base", config, parts)
    out = tmp_path / "out"
    prepare_finetune(out, finetune_config(tmp_path / "base", clips, steps=2), resume=False)
    trainer = finetune_trainer(out, CPU)
    trained = {id(p) for p in trainer.parameters}
    assert trained == {id(p) for p in trainer.stage.modules["transformer"].parameters()}
    trainer.train()
    final = resolve_checkpoint(out)
    assert not (final / "text_encoder.safetensors").exists()
    assert load_model(final).config.text.kind == "minilm"


def test_bad_requests_are_refused(debug_run, full, lora, clips, tmp_path):
    with pytest.raises(KinemaError, match="does not exist"):
        finetune_config(tmp_path / "nowhere", clips)
    with pytest.raises(KinemaError, match="at least 1"):
        finetune_config(debug_run, clips, lora_rank=0)
    with pytest.raises(KinemaError, match="made for base checkpoint"):
        load_with_adapter(full, lora)  # another model than the adapter's base
    with pytest.raises(KinemaError, match="no LoRA adapter"):
        load_with_adapter(debug_run, full)
    with pytest.raises(KinemaError, match="already holds a fine-tuning run"):
        prepare_finetune(lora, finetune_config(debug_run, clips), resume=False)
    with pytest.raises(KinemaError, match="other settings"):
        prepare_finetune(lora, finetune_config(debug_run, clips, steps=9), resume=True)
    assert (lora / FINETUNE_FILE).is_file()


def kinema(*args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "kinema.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env)


def test_cli_finetunes_generates_with_an_adapter_and_merges(debug_run, clips, tmp_path):
    out, merged = tmp_path / "adapter", tmp_path / "merged"
    base = ["--checkpoint", str(debug_run)]
    data = ["--data", str(clips)]
    tuned = kinema("finetune", *base, *data, "--out", str(out), "--lora-rank", "2", "--steps", "2")
    assert tuned.returncode == 0, tuned.stderr
    assert kinema("lora", "merge", *base, "--lora", str(out), "--out", str(merged)).returncode == 0
    frames = {}
    for name, options in (
        ("adapter", [*base, "--lora", str(out)]),
        ("merged", ["--checkpoint", merged]),
    ):
        png = tmp_path / f"{name}.png"
        made = kinema("generate", PROMPT, *map(str, options), "--frames", "1", "-o", str(png))
        assert made.returncode == 0, made.stderr
        frames[name] = np.asarray(Image.open(png), dtype=int)
    assert np.abs(frames["adapter"] - frames["merged"]).max() <= 1

    bad = tmp_path / "bad"
    refused = kinema("finetune", *base, *data, "--out", str(bad), "--lora-rank", "0")
    assert refused.returncode == 2
    assert refused.stderr == "error: LoRA rank must be at least 1, got 0\n"
    assert not bad.exists()
