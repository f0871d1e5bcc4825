"""Training on real clips: through the CLI despite bad files, and resuming exactly."""

import dataclasses
import os
import subprocess
import sys

import pytest
import torch

from kinema.config import DataConfig
from kinema.data.lavfi import LavfiClip, corpus_plan, write_lavfi_clip
from kinema.presets import get_preset
from kinema.train.autoencoder_stage import autoencoder_stage
from kinema.train.latents import build_run_cache
from kinema.train.metrics import MetricsLog, read_metrics
from kinema.train.run import METRICS_FILE, prepare_run
from kinema.train.transformer_stage import transformer_stage

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def raw_index(tmp_path_factory):
    """An unscanned CSV of six lavfi clips, a truncated mp4, a text file and a missing file."""
    root = tmp_path_factory.mktemp("train-corpus")
    rows = ["path,text"]
    for clip in corpus_plan(6, seed=3):
        write_lavfi_clip(clip, root)
        rows.append(f'{clip.name}.mp4,"{clip.text}"')
    whole = write_lavfi_clip(LavfiClip("whole", "testsrc2", 64, 48, 8, 16, ""), root)
    (root / "truncated.mp4").write_bytes(whole.read_bytes()[:3000])
    whole.unlink()
    (root / "notes.mp4").write_text("not a video")
    rows += ["truncated.mp4,cut short", "notes.mp4,a text file", "missing.mp4,never there"]
    (root / "index.csv").write_text("\n".join(rows) + "\n")
    return root / "index.csv"


def kinema(*args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "kinema.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env)


def test_cli_trains_both_stages_on_clips_with_bad_files_among_them(raw_index, tmp_path):
    run = tmp_path / "run"
    args = ["train", "--preset", "debug", "--data", str(raw_index), "--out", str(run)]
    result = kinema(*args, "--cache", "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert "skipping 3 unusable" in result.stderr
    for name in ("truncated.mp4", "notes.mp4", "missing.mp4"):
        assert name in result.stderr
    stages = {record["stage"] for record in read_metrics(run / METRICS_FILE)}
    assert stages == {"autoencoder", "transformer"}
    assert (run / "cache" / "cache.json").is_file()
    assert kinema("train", "--out", str(run), "--resume").returncode == 0
    video = tmp_path / "out.mp4"
    made = kinema("generate", "testsrc2 pattern", "--checkpoint", str(run), "-o", str(video))
    assert made.returncode == 0, made.stderr


def test_cli_refuses_an_index_that_leaves_its_folder(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "index.csv").write_text("path,text\n../elsewhere/clip.mp4,x\n")
    run = tmp_path / "run"
    result = kinema(
        "train",
        "--preset",
        "debug",
        "--data",
        str(tmp_path / "data" / "index.csv"),
        "--out",
        str(run),
    )
    assert result.returncode == 2
    assert "leaves the dataset folder" in result.stderr and result.stderr.count("\n") == 1
    assert not run.exists()  # refused before anything was written


@pytest.mark.parametrize("cache", [False, True])
def test_a_killed_run_on_clips_resumes_exactly(raw_index, tmp_path, cache):
    base = get_preset("debug")
    cfg = dataclasses.replace(
        base,
        data=DataConfig(index=str(raw_index), cache=cache),
        autoencoder_stage=dataclasses.replace(
            base.autoencoder_stage, log_every=1, checkpoint_every=2
        ),
        transformer_stage=dataclasses.replace(
            base.transformer_stage, steps=6, log_every=1, checkpoint_every=3
        ),
    )

    def train(run, autoencoder_until=None, transformer_until=None):
        metrics = MetricsLog(run / METRICS_FILE)
        autoencoder_stage(cfg, run, CPU, metrics).train(until=autoencoder_until)
        if autoencoder_until is not None:
            return
        if cache:
            build_run_cache(run, cfg, CPU, progress=False)
        transformer_stage(cfg, run, CPU, metrics).train(until=transformer_until)

    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    for run in (straight, interrupted):
        prepare_run(run, cfg, resume=False)
    train(straight)
    train(interrupted, autoencoder_until=2)  # "killed" after the checkpoint at step 2
    train(interrupted, transformer_until=3)  # … and again after stage 2's at step 3
    train(interrupted)  # each call rebuilds everything, as a fresh process would

    def losses(run):
        return {(r["stage"], r["step"]): r["loss"] for r in read_metrics(run / METRICS_FILE)}

    assert len(losses(straight)) == 4 + 6
    assert losses(interrupted) == pytest.approx(losses(straight), rel=1e-6)
