"""`kinema eval` end to end on the debug run, and its one-line answers to bad input."""

import json
import os
import subprocess
import sys

import pytest
from PIL import Image
from typer.testing import CliRunner

from kinema.cli import app


def test_eval_writes_metrics_report_and_contact_sheet(debug_run, tmp_path):
    out = tmp_path / "eval"
    command = [sys.executable, "-m", "kinema.cli", "eval", "--checkpoint", str(debug_run)]
    command += ["--prompts", "3", "--diversity-seeds", "2", "--steps", "2", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "adherence" in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["summary"]["videos"] == 3 and len(metrics["videos"]) == 3
    assert metrics["settings"]["split"] == "train"
    assert {"low", "high", "value"} <= set(metrics["summary"]["adherence"])
    assert set(metrics["diversity"]["prompts"]) == {
        "a red circle",
        "a blue square moving to the right",
        "a star on a black background",
    }
    report = (out / "report.md").read_text()
    assert "full-prompt adherence" in report and metrics["videos"][0]["prompt"] in report
    with Image.open(out / "contact_sheet.png") as sheet:
        assert sheet.width >= 9 * 16 and sheet.height > 3 * 16
    assert len(list((out / "videos").glob("*.mp4"))) == 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["--prompts", "0"], "at least 1"),
        (["--split", "test"], "unknown split"),
        (["--seed", "-1"], "seed"),
        ([], "no --checkpoint given and no shipped model"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(debug_run, args, message, monkeypatch):
    import kinema.shipped

    monkeypatch.setattr(kinema.shipped, "default_checkpoint", lambda: None)
    checkpoint = [] if not args else ["--checkpoint", str(debug_run)]
    result = CliRunner().invoke(app, ["eval", *checkpoint, *args])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("error:")


def test_missing_checkpoint_is_refused(tmp_path):
    result = CliRunner().invoke(app, ["eval", "--checkpoint", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "does not exist" in result.output
