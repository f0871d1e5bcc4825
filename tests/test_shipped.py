"""`kinema export` and the shipped-model lookup: half-precision checkpoints that load and
generate like their source, and commands that find the shipped model by themselves."""

import sys
import tomllib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from typer.testing import CliRunner

import kinema.shipped
from kinema.checkpoint import CONFIG_FILE, WEIGHT_FILES, load_config, resolve_checkpoint
from kinema.cli import app
from kinema.errors import KinemaError
from kinema.eval.run import RUN_CONFIG_FILE, run_world
from kinema.model import load_model
from kinema.pipeline import GenerationRequest, generate
from kinema.shipped import MODEL_CARD, checkpoint_or_default, default_checkpoint, export_checkpoint


def _dtypes(path) -> set[torch.dtype]:
    with safe_open(str(path), framework="pt") as handle:
        names = handle.keys()  # a safetensors handle is not iterable itself
        return {handle.get_tensor(name).dtype for name in names}


def test_export_halves_the_weights_and_generates_alike(debug_run, tmp_path):
    out = tmp_path / "shipped"
    sizes = export_checkpoint(debug_run, out, "float16")
    source = resolve_checkpoint(debug_run)
    for name in ("autoencoder", "transformer"):
        file = WEIGHT_FILES[name]
        assert _dtypes(out / file) == {torch.float16}
        assert sizes[file] < 0.6 * (source / file).stat().st_size
    assert set(sizes) == {
        CONFIG_FILE,
        WEIGHT_FILES["autoencoder"],
        WEIGHT_FILES["transformer"],
        WEIGHT_FILES["text_encoder"],
        RUN_CONFIG_FILE,
    }
    assert run_world(out) == run_world(debug_run)  # the evaluator reads the same world

    request = GenerationRequest(prompt="a red circle moves to the right", seed=3, steps=4)
    full = generate(load_model(debug_run), request).astype(np.int16)
    half = generate(load_model(out), request).astype(np.int16)
    assert np.abs(full - half).mean() < 1.5  # of 255 levels: rounding, not another model


def test_export_keeps_the_model_card_and_refuses_bad_input(debug_run, tmp_path):
    out = tmp_path / "shipped"
    out.mkdir()
    (out / MODEL_CARD).write_text("# the card\n")
    export_checkpoint(debug_run, out, "bfloat16")
    assert (out / MODEL_CARD).read_text() == "# the card\n"
    assert _dtypes(out / WEIGHT_FILES["transformer"]) == {torch.bfloat16}
    with pytest.raises(KinemaError, match="dtype must be one of"):
        export_checkpoint(debug_run, tmp_path / "other", "int8")
    steps = tmp_path / "steps"
    export_checkpoint(debug_run, steps, sample_steps=3)
    assert load_config(steps).flow.sample_steps == 3
    assert load_config(steps).latent_std == load_config(resolve_checkpoint(debug_run)).latent_std
    with pytest.raises(KinemaError, match="at least 1"):
        export_checkpoint(debug_run, steps, sample_steps=0)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(KinemaError, match="no checkpoint in"):
        export_checkpoint(empty, out)
    result = CliRunner().invoke(
        app,
        [
            "export",
            "--checkpoint",
            str(debug_run),
            "--out",
            str(tmp_path / "cli"),
            "--dtype",
            "float64",
        ],
    )
    assert result.exit_code == 2 and "dtype must be one of" in result.output


def test_the_shipped_model_is_found_in_order_and_its_absence_explained(
    debug_run, tmp_path, monkeypatch
):
    monkeypatch.setattr(kinema.shipped, "SHIPPED_DIR", tmp_path / "checkpoints")
    monkeypatch.setattr(kinema.shipped, "SHIPPED_NAMES", ("kinema-big", "kinema-small"))
    assert default_checkpoint() is None
    with pytest.raises(KinemaError, match="no --checkpoint given and no shipped model"):
        checkpoint_or_default(None)
    export_checkpoint(debug_run, tmp_path / "checkpoints" / "kinema-small")
    assert checkpoint_or_default(None) == tmp_path / "checkpoints" / "kinema-small"
    export_checkpoint(debug_run, tmp_path / "checkpoints" / "kinema-big")
    assert default_checkpoint() == tmp_path / "checkpoints" / "kinema-big"
    assert checkpoint_or_default(debug_run) == debug_run  # a given checkpoint wins

    video = tmp_path / "out.png"
    result = CliRunner().invoke(
        app, ["generate", "a red circle", "-o", str(video), "--frames", "1", "--steps", "2"]
    )
    assert result.exit_code == 0, result.output
    assert video.is_file() and "using the shipped model" in result.output
    assert str(tmp_path / "checkpoints" / "kinema-big") in result.output


def test_an_installed_wheels_shipped_model_is_found_from_any_folder(
    debug_run, tmp_path, monkeypatch
):
    prefix = tmp_path / "prefix"
    monkeypatch.setattr(kinema.shipped, "SHIPPED_NAMES", ("kinema-installed",))
    monkeypatch.setattr(sys, "prefix", str(prefix))
    monkeypatch.chdir(tmp_path)
    assert default_checkpoint() is None
    folder = prefix / "share" / "kinema" / "checkpoints" / "kinema-installed"
    export_checkpoint(debug_run, folder)
    assert default_checkpoint() == folder


def test_wheels_carry_every_shipped_model():
    """pyproject's data-files put each shipped model where `default_checkpoint` looks."""
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    data_files = project["tool"]["setuptools"]["data-files"]
    for name in kinema.shipped.SHIPPED_NAMES:
        assert data_files[f"share/kinema/checkpoints/{name}"] == [f"checkpoints/{name}/*"]


def test_generation_remembers_a_frozen_encoders_prompts_and_gives_the_same_video():
    model = load_model(default_checkpoint())
    request = GenerationRequest("a red circle moves left on a black background", seed=2, steps=2)
    cold = generate(model, request)
    assert set(model.text_memo.states) == {request.prompt, ""}
    before = dict(model.text_memo.states)
    warm = generate(model, request)
    assert all(model.text_memo.states[k] is v for k, v in before.items())  # not re-encoded
    np.testing.assert_array_equal(cold, warm)
    moves = []
    model.text_encoder.to = lambda *args, **kwargs: moves.append(args)  # records, moves nothing
    generate(model, replace(request, low_memory=True))  # decodes frame by frame: not compared
    assert moves == []  # the low-memory mode leaves an unneeded encoder where it is
    model.text_memo.forget([request.prompt])
    assert model.remembers([""]) and not model.remembers([request.prompt, ""])
    generate(model, request)
    assert moves and model.remembers([request.prompt, ""])
    model.text_memo.forget()
    assert not model.text_memo.states
