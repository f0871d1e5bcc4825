"""Dataset indexes and `kinema data scan`: columns, paths kept inside, bad files reported."""

import json
import os
import subprocess
import sys

import pytest

from kinema.data.index import Clip, read_index, write_index
from kinema.data.lavfi import LavfiClip, write_lavfi_clip
from kinema.data.scan import scan
from kinema.errors import KinemaError

GOOD = [
    LavfiClip("testsrc2-a", "testsrc2", 64, 48, 8, 16, "a test pattern"),
    LavfiClip("mandelbrot-b", "mandelbrot", 48, 48, 10, 25, "a fractal zoom"),
    LavfiClip("life-c", "life", 96, 54, 12, 30, "cells live and die"),
    LavfiClip("testsrc2-short", "testsrc2", 32, 32, 8, 3, "three frames"),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Four good clips in a nested folder, and every kind of bad file beside them."""
    root = tmp_path_factory.mktemp("corpus")
    (root / "nested").mkdir()
    for clip in GOOD:
        path = write_lavfi_clip(clip, root / ("nested" if clip.source == "life" else ""))
        path.with_suffix(".txt").write_text(clip.text + "\n")
    whole = (root / "testsrc2-a.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(whole[: len(whole) // 2])
    (root / "zero.mp4").write_bytes(b"")
    (root / "notes.mp4").write_text("this is a text file, not a video\n")
    return root


def test_scan_of_a_folder_reports_exactly_the_bad_files(corpus):
    result, index = scan(corpus, min_frames=4, progress=False)
    assert index == corpus / "index.csv"
    assert {c.path.name for c in result.clips} == {
        "testsrc2-a.mp4",
        "mandelbrot-b.mp4",
        "life-c.mp4",
    }
    reasons = {s.path: s.reason for s in result.skipped}
    assert reasons == {
        "truncated.mp4": "unreadable",
        "zero.mp4": "empty",
        "notes.mp4": "unreadable",
        "testsrc2-short.mp4": "too short",
    }
    clips = {c.path.name: c for c in read_index(index)}
    life = clips["life-c.mp4"]
    assert (life.num_frames, life.height, life.width, life.fps) == (30, 54, 96, 12.0)
    assert life.text == "cells live and die"
    assert "\nnested/life-c.mp4," in index.read_text()  # relative to the index's folder
    report = json.loads((corpus / "index.report.json").read_text())
    assert len(report["skipped"]) == 4 and report["usable"] == 3


def test_scan_of_an_index_reports_a_missing_path(corpus, tmp_path):
    rows = ["path,text", "testsrc2-a.mp4,a pattern", "gone.mp4,never there", "zero.mp4,empty"]
    (corpus / "mine.csv").write_text("\n".join(rows) + "\n")
    result, index = scan(corpus / "mine.csv", corpus / "mine.jsonl", progress=False)
    assert [c.path.name for c in result.clips] == ["testsrc2-a.mp4"]
    assert {s.path: s.reason for s in result.skipped} == {
        "gone.mp4": "missing",
        "zero.mp4": "empty",
    }
    (record,) = [json.loads(line) for line in index.read_text().splitlines()]
    assert record["path"] == "testsrc2-a.mp4" and record["num_frames"] == 16


@pytest.mark.parametrize("name", ["../outside.mp4", "nested/../../outside.mp4", "/etc/passwd"])
def test_an_index_whose_path_leaves_its_folder_is_refused(tmp_path, name):
    (tmp_path / "data").mkdir()
    index = tmp_path / "data" / "index.csv"
    index.write_text(f"path,text\nfine.mp4,ok\n{name},escape\n")
    with pytest.raises(KinemaError, match="leaves the dataset folder"):
        read_index(index)


def test_absolute_paths_inside_the_folder_and_jsonl_round_trip(tmp_path):
    inside = tmp_path / "clip.mp4"
    (tmp_path / "index.jsonl").write_text(json.dumps({"path": str(inside), "text": "x"}) + "\n")
    (clip,) = read_index(tmp_path / "index.jsonl")
    assert clip.path == inside.resolve() and not clip.probed
    clips = [Clip(inside.resolve(), 'a "quoted", caption', 9, 32, 48, 8.0)]
    for name in ("out.csv", "out.jsonl"):
        write_index(clips, tmp_path / name)
        assert read_index(tmp_path / name) == clips


def test_bad_index_contents_are_one_line_errors(tmp_path):
    (tmp_path / "a.csv").write_text("file,caption\nx.mp4,y\n")
    with pytest.raises(KinemaError, match="no column path, text"):
        read_index(tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("path,text,num_frames\nx.mp4,y,many\n")
    with pytest.raises(KinemaError, match="b.csv:2: column 'num_frames'"):
        read_index(tmp_path / "b.csv")
    with pytest.raises(KinemaError, match=".csv or .jsonl"):
        read_index(tmp_path / "index.txt")


def test_cli_scan_and_its_refusals(corpus, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def kinema(*args):
        command = [sys.executable, "-m", "kinema.cli", "data", "scan", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env)

    out = corpus / "cli.csv"
    result = kinema(str(corpus), "-o", str(out), "--min-frames", "4")
    assert result.returncode == 0, result.stderr
    assert "3 usable" in result.stdout and "skipped zero.mp4: empty" in result.stdout
    (tmp_path / "sub").mkdir()
    escaping = tmp_path / "sub" / "escape.csv"
    escaping.write_text("path,text\n../../secret.mp4,x\n")
    result = kinema(str(escaping), "-o", str(tmp_path / "sub" / "out.csv"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "leaves the dataset folder" in result.stderr
    outside = kinema(str(corpus), "-o", str(tmp_path / "elsewhere.csv"))
    assert outside.returncode == 2 and "outside" in outside.stderr


def test_a_run_config_with_data_round_trips_through_json(tmp_path):
    from kinema.config import BucketConfig, DataConfig, TrainConfig, load_json, save_json

    data = DataConfig(index="/data/index.csv", buckets=(BucketConfig(64, 64, 17, 8),), cache=True)
    cfg = TrainConfig(data=data)
    save_json(cfg, tmp_path / "run.json")
    assert load_json(TrainConfig, tmp_path / "run.json") == cfg
