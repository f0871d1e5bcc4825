"""Training and generation across ranks: real torchrun launches of 2 CPU processes (gloo).

The reference everywhere is one plain process: 2 ranks must train the same losses on the
same global batch, resume each other's checkpoints, survive `kill -9` with an exact
continuation, and generate the same frames with one video's tokens split across them.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

from kinema.checkpoint import SHARDED_STATE_DIR, list_checkpoints
from kinema.cli import app
from kinema.config import ParallelConfig, TrainConfig, from_dict, to_dict
from kinema.distributed.checkpoint import TRAINER_FILE
from kinema.distributed.launch import command_line
from kinema.distributed.mesh import check_parallel
from kinema.errors import KinemaError
from kinema.model import load_model
from kinema.presets import get_preset
from kinema.train import prepare_run, train
from kinema.train.metrics import read_metrics
from kinema.train.run import METRICS_FILE
from kinema.train.shards import BatchShard

CHECKS = Path(__file__).with_name("distributed_checks.py")
STEPS = 20
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def torchrun(nproc: int, *arguments: str) -> subprocess.CompletedProcess:
    """A local launch of `nproc` ranks; a failure shows the ranks' output."""
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        *arguments,
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


def train_on_two_ranks(run: Path, *options: str) -> subprocess.CompletedProcess:
    arguments = ["--out", str(run), "--resume", "--device", "cpu", *options]
    return torchrun(2, "-m", "kinema.train", *arguments)


def run_config(**parallel: object) -> TrainConfig:
    """`debug` with 20 logged steps per stage, 2 rows per rank, EMA in stage 2."""
    cfg = get_preset("debug")
    stage = replace(
        cfg.autoencoder_stage,
        steps=STEPS,
        batch_size=4,
        log_every=1,
        checkpoint_every=5,
        keep_last=3,
    )
    return replace(
        cfg,
        autoencoder_stage=stage,
        transformer_stage=replace(stage, ema_decay=0.9),
        parallel=ParallelConfig(**parallel),
    )


def records(run: Path) -> dict[tuple[str, int], dict]:
    """Logged steps by (stage, step); a resumed run's records replace the ones it redid."""
    return {(r["stage"], r["step"]): r for r in read_metrics(run / METRICS_FILE)}


def assert_same_curve(got: dict, expected: dict, keys: list, relative: float) -> None:
    assert keys and all(key in got and key in expected for key in keys), keys
    for key in keys:
        for metric in ("loss", "grad_norm"):
            a, b = got[key][metric], expected[key][metric]
            assert math.isclose(a, b, rel_tol=relative, abs_tol=1e-7), (key, metric, a, b)


def cut_after(run: Path, copy: Path, step: int) -> Path:
    """A copy of a finished run as if it had stopped at transformer checkpoint `step`."""
    shutil.copytree(run, copy)
    for number, folder in list_checkpoints(copy / "transformer"):
        if number > step:
            shutil.rmtree(folder)
    kept = [r for r in read_metrics(copy / METRICS_FILE) if r["stage"] != "transformer"]
    lines = [json.dumps(r) + "\n" for r in kept]
    (copy / METRICS_FILE).write_text("".join(lines))  # later steps must be logged anew
    return copy


def assert_same_export(run: Path, expected: Path, tolerance: float) -> None:
    """The final inference weights (EMA for the transformer) of two runs agree."""
    final = "transformer/step-00000020"
    for name in ("transformer", "text_encoder"):
        got = load_file(run / final / f"{name}.safetensors")
        want = load_file(expected / final / f"{name}.safetensors")
        assert got.keys() == want.keys()
        for key in want:
            torch.testing.assert_close(got[key], want[key], rtol=tolerance, atol=tolerance)


def transformer_steps(start: int) -> list[tuple[str, int]]:
    return [("transformer", step) for step in range(start, STEPS + 1)]


# --- fixtures: one plain process and one 2-rank launch of the same run ---------------


@pytest.fixture(scope="module")
def one_process_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("one-process") / "run"
    train(run, prepare_run(run, run_config(grad_accumulation=2), resume=False), torch.device("cpu"))
    return run


@pytest.fixture(scope="module")
def two_rank_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("two-ranks") / "run"
    prepare_run(run, run_config(grad_accumulation=2), resume=False)
    train_on_two_ranks(run)
    return run


@pytest.fixture(scope="module")
def checks(tmp_path_factory) -> list[dict]:
    """Results of tests/distributed_checks.py, one dict per rank."""
    out = tmp_path_factory.mktemp("checks")
    torchrun(2, str(CHECKS), str(out))
    return [json.loads((out / f"rank-{rank}.json").read_text()) for rank in range(2)]


# --- pieces --------------------------------------------------------------------------


def test_batch_shards_cut_a_batch_into_equal_contiguous_rows():
    rows = list(range(8))
    parts = [BatchShard(index, 4).take(rows) for index in range(4)]
    assert parts == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert BatchShard().take(rows) == rows
    with pytest.raises(KinemaError, match="3 equal parts"):
        BatchShard(0, 3).take(rows)


def test_run_configs_from_before_parallel_settings_still_load():
    stored = to_dict(get_preset("debug"))
    del stored["parallel"]
    assert from_dict(TrainConfig, stored).parallel == ParallelConfig()


def test_parallel_settings_are_checked_before_any_work():
    cfg = run_config()
    check_parallel(cfg, 2)
    with pytest.raises(KinemaError, match="cannot be split into 8 equal parts"):
        check_parallel(replace(cfg, parallel=ParallelConfig(grad_accumulation=4)), 2)
    with pytest.raises(KinemaError, match="must divide the number of ranks"):
        check_parallel(replace(cfg, parallel=ParallelConfig(sequence_parallel=2)), 3)
    with pytest.raises(KinemaError, match="data_parallel must be one of fsdp, ddp"):
        check_parallel(replace(cfg, parallel=ParallelConfig(data_parallel="zero")), 2)


def test_nproc_passes_every_option_on_to_the_ranks():
    options = {
        "out": Path("runs/x"),
        "preset": "debug",
        "resume": False,
        "device": None,
        "compile": True,
        "activation_checkpointing": False,
        "sequence_parallel": 2,
        "set": ["seed=1", "transformer_stage.lr=4e-4"],
    }
    assert command_line(options) == [
        *("--out", "runs/x", "--preset", "debug", "--no-resume", "--compile"),
        *("--no-activation-checkpointing", "--sequence-parallel", "2"),
        *("--set", "seed=1", "--set", "transformer_stage.lr=4e-4"),
    ]


def test_parallel_options_without_ranks_are_refused(tmp_path):
    result = CliRunner().invoke(
        app,
        ["train", "--preset", "debug", "--out", str(tmp_path / "run"), "--sequence-parallel", "2"],
    )
    assert result.exit_code == 2
    assert "add --nproc N or start the run with torchrun" in result.output
    assert not (tmp_path / "run").exists()


def test_sequence_parallel_attention_equals_plain_attention(checks):
    for rank in checks:
        attention = rank["attention"]
        assert attention["scale"] > 0.5  # a real signal, not zeros compared with zeros
        assert attention["output"] < 1e-6 and attention["gradient"] < 1e-6


def test_sequence_parallel_transformer_equals_one_rank(checks):
    for rank in checks:
        assert rank["transformer"]["output"] < 1e-5
        assert rank["transformer"]["gradient"] < 1e-4


def test_fsdp_with_activation_checkpointing_matches_the_plain_model(checks):
    for rank in checks:
        assert rank["checkpointing"]["output"] < 1e-5
        assert rank["checkpointing"]["gradient"] < 1e-4
        assert rank["checkpointing"]["local_share"] < 0.6  # each rank holds about half


def test_nonfinite_steps_are_skipped_on_every_rank_then_stop_the_run(checks):
    # Rank 1 alone meets a NaN loss (steps 1, 3), an infinite gradient (4), then only NaNs.
    for rank in checks:
        assert rank["nonfinite"]["skipped"] == 3
        # From step 8 on every step is skipped: the 21st skip in all (step 8 + 17) stops it.
        assert rank["nonfinite"]["stopped_at"] == 8 + 17
        assert "non-finite loss at step 25, 21 skipped steps" in rank["nonfinite"]["error"]
        assert "limit 20" in rank["nonfinite"]["error"]


# --- training ------------------------------------------------------------------------


def test_two_ranks_train_the_losses_of_one_process(one_process_run, two_rank_run):
    one, two = records(one_process_run), records(two_rank_run)
    keys = [(stage, step) for stage in ("autoencoder", "transformer") for step in range(1, 21)]
    assert_same_curve(two, one, keys, relative=1e-4)


def test_a_two_rank_checkpoint_holds_shards_and_loads_for_generation(two_rank_run):
    for stage in ("autoencoder", "transformer"):
        kept = [number for number, _ in list_checkpoints(two_rank_run / stage)]
        assert kept == [10, 15, 20]  # keep_last = 3
    final = two_rank_run / "transformer" / "step-00000020"
    assert (final / SHARDED_STATE_DIR / ".metadata").is_file()
    assert json.loads((final / TRAINER_FILE).read_text())["step"] == STEPS
    assert not [p for p in two_rank_run.rglob("*") if ".tmp-" in p.name]
    model = load_model(two_rank_run)  # config.json + safetensors, as `kinema generate` reads
    assert model.config.latent_mean


def test_a_two_rank_checkpoint_resumes_in_one_process(two_rank_run, tmp_path):
    run = cut_after(two_rank_run, tmp_path / "run", 10)
    train(run, prepare_run(run, None, resume=True), torch.device("cpu"))
    assert_same_curve(records(run), records(two_rank_run), transformer_steps(11), 1e-4)
    assert_same_export(run, two_rank_run, 1e-5)


def test_a_one_process_run_moves_to_two_ranks_with_ddp_and_sequence_parallel(
    one_process_run, tmp_path
):
    run = cut_after(one_process_run, tmp_path / "run", 10)
    options = ["--data-parallel", "ddp", "--sequence-parallel", "2", "--device", "cpu"]
    result = CliRunner().invoke(
        app, ["train", "--out", str(run), "--resume", "--nproc", "2", *options]
    )
    assert result.exit_code == 0, result.output  # `kinema train --nproc 2` started torchrun
    assert_same_curve(records(run), records(one_process_run), transformer_steps(11), 1e-4)
    assert_same_export(run, one_process_run, 1e-5)


def _logged(run: Path, key: tuple[str, int]) -> bool:
    try:
        return key in records(run)
    except json.JSONDecodeError:  # a line being written as we read
        return False


def _descendants(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [grandchild for c in map(int, children) for grandchild in (c, *_descendants(c))]


def test_a_killed_two_rank_run_resumes_exactly(two_rank_run, tmp_path):
    run = tmp_path / "run"
    prepare_run(run, run_config(grad_accumulation=2), resume=False)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node=2", "-m", "kinema.train", "--out", str(run), "--resume"]
    launch = subprocess.Popen(
        [*command, "--device", "cpu"], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 240
    while not _logged(run, ("transformer", 7)):  # past the checkpoint at step 5
        assert launch.poll() is None and time.monotonic() < deadline, "the run ended early"
        time.sleep(0.02)
    for pid in [*_descendants(launch.pid), launch.pid]:  # the ranks and torchrun, at once
        os.kill(pid, signal.SIGKILL)
    launch.wait()
    assert not (run / "transformer" / "step-00000020").exists()  # killed mid-training
    train_on_two_ranks(run)
    expected = records(two_rank_run)
    got = records(run)
    keys = [key for key in expected if key[0] == "autoencoder"] + transformer_steps(1)
    assert_same_curve(got, expected, keys, relative=0.0)
    assert_same_export(run, two_rank_run, 0.0)


# --- generation ----------------------------------------------------------------------


def test_sequence_parallel_generation_writes_the_frames_of_one_rank(two_rank_run, tmp_path):
    prompt = "a small red circle moves to the left on a black background"
    common = [prompt, "--checkpoint", str(two_rank_run), "--steps", "3", "--device", "cpu"]
    torchrun(2, "-m", "kinema.generate", *common, "-o", str(tmp_path / "split.png"))
    single = CliRunner().invoke(app, ["generate", *common, "-o", str(tmp_path / "one.png")])
    assert single.exit_code == 0, single.output
    frames = sorted(tmp_path.glob("one-*.png"))
    assert len(frames) == 5
    for frame in frames:
        one = np.asarray(Image.open(frame), dtype=np.int16)
        split = np.asarray(Image.open(tmp_path / frame.name.replace("one", "split")), np.int16)
        assert one.std() > 0  # a picture, not a blank
        assert np.abs(one - split).max() <= 1
