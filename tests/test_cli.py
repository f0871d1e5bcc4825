"""The command line end to end, through real subprocesses, and its answers to bad input."""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import av
import numpy as np
import pytest
import torch
from PIL import Image

KINEMA = [sys.executable, "-m", "kinema.cli"]
PROMPT = "a red circle moves to the left on a black background"


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([*KINEMA, *args], capture_output=True, text=True, env=env, cwd=cwd)


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """`kinema train --preset debug` through the CLI."""
    out = tmp_path_factory.mktemp("cli") / "run"
    result = run("train", "--preset", "debug", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert (out / "metrics.jsonl").read_text().count('"stage": "transformer"') >= 1
    return out


def test_train_then_generate_mp4(cli_run, tmp_path):
    video = tmp_path / "out.mp4"
    result = run("generate", PROMPT, "--checkpoint", str(cli_run), "-o", str(video), "--steps", "3")
    assert result.returncode == 0, result.stderr
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert len(frames) == 5  # the debug preset's default
    assert frames[0].shape == (16, 16, 3)


def test_generate_other_size_gif_and_png(cli_run, tmp_path):
    gif = tmp_path / "out.gif"
    result = run(
        "generate",
        PROMPT,
        "--checkpoint",
        str(cli_run),
        "-o",
        str(gif),
        "--frames",
        "9",
        "--height",
        "24",
        "--width",
        "32",
        "--steps",
        "2",
    )
    assert result.returncode == 0, result.stderr
    assert gif.stat().st_size > 0
    png = tmp_path / "still.png"
    result = run("generate", PROMPT, "--checkpoint", str(cli_run), "-o", str(png), "--frames", "1")
    assert result.returncode == 0, result.stderr
    assert png.exists()


def test_resume_needs_the_flag(cli_run):
    result = run("train", "--preset", "debug", "--out", str(cli_run))
    assert result.returncode == 2
    assert "--resume" in result.stderr
    resumed = run("train", "--out", str(cli_run), "--resume")
    assert resumed.returncode == 0, resumed.stderr


def _corrupt_copy(run_dir, tmp_path):
    copy = tmp_path / "corrupt"
    shutil.copytree(run_dir, copy)
    (weights,) = copy.glob("transformer/step-*/transformer.safetensors")
    weights.write_bytes(weights.read_bytes()[:100])
    return copy


@pytest.mark.parametrize(
    "case, rule",
    [
        ("empty prompt", "prompt is empty"),
        ("long prompt", "limit is 1000"),
        ("odd size", "multiple of 8"),
        ("frames", "1 + 4k"),
        ("missing checkpoint", "does not exist"),
        ("corrupt checkpoint", "corrupt"),
        ("unwritable output", "does not exist"),
        ("bad extension", "must end in"),
        ("unknown preset", "unknown preset"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(case, rule, cli_run, tmp_path):
    ckpt = str(cli_run)
    out = str(tmp_path / "out.mp4")
    args = {
        "empty prompt": ["generate", "  ", "--checkpoint", ckpt, "-o", out],
        "long prompt": ["generate", "a " * 600, "--checkpoint", ckpt, "-o", out],
        "odd size": ["generate", PROMPT, "--checkpoint", ckpt, "-o", out, "--height", "20"],
        "frames": ["generate", PROMPT, "--checkpoint", ckpt, "-o", out, "--frames", "6"],
        "missing checkpoint": [
            "generate",
            PROMPT,
            "--checkpoint",
            str(tmp_path / "nope"),
            "-o",
            out,
        ],
        "corrupt checkpoint": [
            "generate",
            PROMPT,
            "--checkpoint",
            str(_corrupt_copy(cli_run, tmp_path)) if case == "corrupt checkpoint" else ckpt,
            "-o",
            out,
        ],
        "unwritable output": [
            "generate",
            PROMPT,
            "--checkpoint",
            ckpt,
            "-o",
            str(tmp_path / "no" / "dir" / "x.mp4"),
        ],
        "bad extension": ["generate", PROMPT, "--checkpoint", ckpt, "-o", str(tmp_path / "x.avi")],
        "unknown preset": ["train", "--preset", "nope", "--out", str(tmp_path / "r")],
    }[case]
    result = run(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert rule in lines[0]
    assert "Traceback" not in result.stderr


def test_generate_expands_short_prompts(cli_run, tmp_path):
    video = tmp_path / "expanded.mp4"
    result = run(
        "generate",
        "green square going up",
        "--expand",
        "--checkpoint",
        str(cli_run),
        "-o",
        str(video),
        "--steps",
        "2",
        "--seed",
        "4",
    )
    assert result.returncode == 0, result.stderr
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("expanded prompt: ")]
    assert "green square" in line and "up" in line
    assert video.exists()


def test_image_mode_says_it_resized_the_input(debug_run, tmp_path):
    picture = tmp_path / "wide.png"
    Image.fromarray(np.full((24, 48, 3), 90, dtype=np.uint8)).save(picture)
    out = tmp_path / "animated.mp4"
    result = run(
        "generate", PROMPT, "--checkpoint", str(debug_run), "--image", str(picture),
        "--steps", "2", "-o", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "48x24 resized to cover 16x16" in result.stdout and out.stat().st_size > 0


def test_train_from_a_trained_autoencoder(cli_run, tmp_path):
    """--autoencoder: stage 1 is the given checkpoint's autoencoder; only stage 2 trains."""
    from safetensors.torch import load_file

    out = tmp_path / "stage2-only"
    result = run("train", "--preset", "debug", "--out", str(out), "--autoencoder", str(cli_run))
    assert result.returncode == 0, result.stderr
    (given,) = cli_run.glob("transformer/step-*/autoencoder.safetensors")
    (seeded,) = out.glob("autoencoder/step-*/autoencoder.safetensors")
    (final,) = out.glob("transformer/step-*/autoencoder.safetensors")
    expected = load_file(given)
    for path in (seeded, final):
        weights = load_file(path)
        assert weights.keys() == expected.keys()
        assert all(torch.equal(weights[k], expected[k]) for k in expected)
    stages = (out / "metrics.jsonl").read_text()
    assert '"stage": "autoencoder"' not in stages and '"stage": "transformer"' in stages
    again = run("train", "--out", str(out), "--resume", "--autoencoder", str(cli_run))
    assert again.returncode == 2 and "resume it without --autoencoder" in again.stderr


def test_train_refuses_another_autoencoder(cli_run, tmp_path):
    out = tmp_path / "mismatch"
    result = run(
        "train", "--preset", "shapes-tiny", "--out", str(out), "--autoencoder", str(cli_run)
    )
    assert result.returncode == 2
    assert "is not the run's: latent_channels 4 (run: 8)" in result.stderr
    assert not out.exists()  # nothing started
    broken = tmp_path / "broken"
    shutil.copytree(cli_run, broken)
    (weights,) = broken.glob("transformer/step-*/autoencoder.safetensors")
    weights.write_bytes(weights.read_bytes()[:100])
    result = run("train", "--preset", "debug", "--out", str(out), "--autoencoder", str(broken))
    assert result.returncode == 2 and "is corrupt" in result.stderr
    assert not out.exists()


def test_train_warm_start_from_a_trained_model(cli_run, tmp_path):
    """--init: the step-0 transformer is the given one; the run trains on from it, with
    --set changing its schedule."""
    from safetensors.torch import load_file

    out = tmp_path / "warm"
    result = run(
        "train", "--preset", "debug", "--out", str(out), "--init", str(cli_run),
        "--set", "transformer_stage.steps=6", "--set", "transformer_stage.lr=2e-4",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (given,) = cli_run.glob("transformer/step-*/transformer.safetensors")
    start = out / "transformer/step-00000000/transformer.safetensors"
    final = out / "transformer/step-00000006/transformer.safetensors"
    expected, started, trained = load_file(given), load_file(start), load_file(final)
    assert all(torch.equal(started[k], expected[k]) for k in expected)
    assert not all(torch.equal(trained[k], expected[k]) for k in expected)
    given_config = (given.parent / "config.json").read_text()
    assert (final.parent / "config.json").read_text() == given_config  # same latent statistics
    logged = [line for line in (out / "metrics.jsonl").read_text().splitlines() if line]
    assert '"stage": "autoencoder"' not in "".join(logged)
    assert len(logged) == 3  # 6 steps, logged every 2
    record = json.loads((out / "started_from.json").read_text())
    assert record["how"] == "--init" and record["source"] == str(given.parent)
    assert (
        record["sha256"]["transformer.safetensors"]
        == hashlib.sha256(given.read_bytes()).hexdigest()
    )
    exported = tmp_path / "exported"
    assert run("export", "--checkpoint", str(out), "--out", str(exported)).returncode == 0
    assert json.loads((exported / "started_from.json").read_text()) == record  # goes along
    stage = json.loads((out / "train_config.json").read_text())["transformer_stage"]
    assert (stage["steps"], stage["lr"]) == (6, 2e-4)


def test_train_set_and_init_refusals(cli_run, tmp_path):
    out = str(tmp_path / "run")
    both = run("train", "--preset", "debug", "--out", out, "--init", str(cli_run),
               "--autoencoder", str(cli_run))  # fmt: skip
    assert both.returncode == 2 and "give --autoencoder or --init" in both.stderr
    unknown = run("train", "--preset", "debug", "--out", out, "--set", "transformer_stage.x=1")
    assert unknown.returncode == 2 and "transformer_stage has no 'x'" in unknown.stderr
    resumed = run("train", "--out", str(cli_run), "--resume", "--set", "seed=1")
    assert resumed.returncode == 2 and "a resumed run keeps its own" in resumed.stderr
    other = run("train", "--preset", "shapes-tiny", "--out", out, "--init", str(cli_run))
    assert other.returncode == 2 and "is not the run's: latent_channels 4 (run: 8)" in other.stderr
    assert not (tmp_path / "run").exists()
