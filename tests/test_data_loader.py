"""The real-clip loader: deterministic batches for a seed, workers, images, bad files."""

import dataclasses
import shutil

import numpy as np
import pytest
from PIL import Image

from kinema.config import DataConfig
from kinema.data.clips import load_clips
from kinema.data.lavfi import corpus_plan, write_lavfi_clip
from kinema.data.scan import scan
from kinema.presets import get_preset
from kinema.train.batches import batch_source


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Eight lavfi clips (scanned into index.csv) and three images of three aspect ratios."""
    root = tmp_path_factory.mktemp("loader-corpus")
    for clip in corpus_plan(8, seed=1):
        write_lavfi_clip(clip, root).with_suffix(".txt").write_text(clip.text)
    images = root / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for name, (h, w) in {
        "square.png": (40, 40),
        "wide.jpg": (36, 64),
        "tall.png": (64, 36),
    }.items():
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(images / name)
        (images / name).with_suffix(".txt").write_text(f"an image, {name.split('.')[0]}")
    scan(root, root / "index.csv", progress=False)
    return root


def config(index, **data):
    return dataclasses.replace(get_preset("debug"), data=DataConfig(index=str(index), **data))


def batches(source, steps):
    return [source.batch(step) for step in steps]


def assert_same(first, second):
    assert len(first) == len(second)
    for (frames_a, captions_a), (frames_b, captions_b) in zip(first, second, strict=True):
        assert captions_a == captions_b
        assert np.array_equal(frames_a, frames_b)


def test_a_seed_gives_the_same_batches_with_or_without_workers(corpus):
    cfg = config(corpus / "index.csv")
    inline = batches(batch_source(cfg, seed=5, batch_size=2), range(8))
    for frames, captions in inline:
        assert frames.dtype == np.uint8 and frames.shape[1:] in [
            (5, 16, 16, 3),
            (5, 16, 24, 3),
            (5, 24, 16, 3),
        ]
        assert len(frames) == len(captions) and all(c.endswith(tuple("01234567")) for c in captions)
    workers = batch_source(
        dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, workers=2)), 5, 2
    )
    assert_same(inline, batches(workers, range(8)))
    assert_same(inline[::-1], batches(workers, range(7, -1, -1)))  # any order, e.g. a resume
    workers.close()
    other = batches(batch_source(cfg, seed=6, batch_size=2), range(8))
    assert any(
        a[1] != b[1] or not np.array_equal(a[0], b[0]) for a, b in zip(inline, other, strict=True)
    )


def test_images_are_mixed_in_at_the_ratio(corpus):
    cfg = config(corpus / "index.csv", images=str(corpus / "images"), image_ratio=0.5)
    source = batch_source(cfg, seed=0, batch_size=2)
    drawn = batches(source, range(6))
    kinds = [frames.shape[1] for frames, _ in drawn]
    assert kinds == [5, 1, 5, 1, 5, 1]  # every other step is an image batch
    images = [(frames, captions) for frames, captions in drawn if frames.shape[1] == 1]
    assert all(c.startswith("an image") for _, captions in images for c in captions)
    assert all(len(frames) >= 7 for frames, _ in images)  # one-frame buckets hold more


def test_unreadable_files_are_skipped_and_reported(corpus, tmp_path):
    rows = ["path,text", "testsrc2-000.mp4,good", "gone.mp4,missing", "notes.mp4,text"]
    (corpus / "notes.mp4").write_text("not a video")
    (corpus / "raw.csv").write_text("\n".join(rows) + "\n")
    lines = []
    clips = load_clips(config(corpus / "raw.csv").data, _buckets(), 4.0, lines.append)
    assert [c.text for c in clips.clips] == ["good"]
    assert {s.reason for s in clips.skipped} == {"missing", "unreadable"}
    assert "skipping 2 unusable" in lines[0]


def _buckets():
    from kinema.data.buckets import stage_buckets

    return stage_buckets(get_preset("debug"), 2)


def test_a_clip_that_stops_decoding_is_replaced_deterministically(corpus, tmp_path, capfd):
    copy = tmp_path / "copy"
    shutil.copytree(corpus, copy, ignore=shutil.ignore_patterns("images", "raw.csv"))
    broken = sorted(copy.glob("*.mp4"))[0]
    broken.write_bytes(broken.read_bytes()[:200])  # the index still lists it as fine
    cfg = config(copy / "index.csv")
    first = batches(batch_source(cfg, seed=1, batch_size=2), range(12))
    second = batches(batch_source(cfg, seed=1, batch_size=2), range(12))
    assert_same(first, second)
    assert f"skipping {broken}" in capfd.readouterr().err
