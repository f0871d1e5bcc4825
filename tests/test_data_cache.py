"""Latent caches: a killed build resumes to the cache one run builds; stage 2 reads it."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from kinema.config import DataConfig
from kinema.data.cache import MANIFEST, LatentCache, build_cache, cache_complete, cache_items
from kinema.data.clips import load_clips
from kinema.data.lavfi import corpus_plan, write_lavfi_clip
from kinema.data.scan import scan
from kinema.errors import KinemaError
from kinema.presets import get_preset
from kinema.text.memo import pad_tokens, split_tokens
from kinema.train.autoencoder_stage import autoencoder_stage
from kinema.train.batches import target_fps
from kinema.train.latents import CachedLatents, build_run_cache, latent_source
from kinema.train.metrics import MetricsLog
from kinema.train.run import METRICS_FILE, prepare_run
from kinema.train.transformer_stage import transformer_stage

CPU = torch.device("cpu")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def stage_one(tmp_path_factory):
    """A debug run over nine lavfi clips (two views each, shards of 4) after stage 1."""
    root = tmp_path_factory.mktemp("cache")
    corpus = root / "corpus"
    corpus.mkdir()
    for clip in corpus_plan(9, seed=2):
        write_lavfi_clip(clip, corpus).with_suffix(".txt").write_text(clip.text)
    scan(corpus, progress=False)
    data = DataConfig(index=str(corpus / "index.csv"), cache_views=2, cache_shard_size=4)
    cfg = dataclasses.replace(get_preset("debug"), data=data)
    run = root / "run"
    prepare_run(run, cfg, resume=False)
    autoencoder_stage(cfg, run, CPU, MetricsLog(run / METRICS_FILE)).train()
    return run, cfg


def copy_run(run, tmp_path, name):
    target = tmp_path / name
    shutil.copytree(run, target)
    return target


def shard_tensors(folder):
    return {path.name: load_file(path) for path in sorted(folder.glob("shard-*.safetensors"))}


def test_a_killed_cache_build_resumes_to_the_cache_one_run_builds(stage_one, tmp_path):
    run, cfg = stage_one
    straight = copy_run(run, tmp_path, "straight")
    build_run_cache(straight, cfg, CPU, progress=False)
    # A real SIGKILL right after the second of five shards is written.
    killed = copy_run(run, tmp_path, "killed")
    script = (
        "import os, signal, torch\n"
        "from kinema.config import TrainConfig, load_json\n"
        "from kinema.train.latents import build_run_cache\n"
        f"run = {str(killed)!r}\n"
        "cfg = load_json(TrainConfig, run + '/train_config.json')\n"
        "def die(shard):\n"
        "    if shard == 1: os.kill(os.getpid(), signal.SIGKILL)\n"
        "build_run_cache(run, cfg, torch.device('cpu'), progress=False, after_shard=die)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], env=ENV, capture_output=True)
    assert result.returncode == -9, result.stderr.decode()
    partial = killed / "cache"
    assert not cache_complete(partial)
    assert sorted(p.name for p in partial.glob("shard-*")) == [
        "shard-00000.safetensors",
        "shard-00001.safetensors",
    ]
    # A damaged shard (say, a disk that lost its tail) is rebuilt as well.
    damaged = partial / "shard-00001.safetensors"
    damaged.write_bytes(damaged.read_bytes()[:100])
    resumed = subprocess.run(
        [sys.executable, "-m", "kinema.cli", "data", "cache", str(killed)],
        env=ENV,
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "cache complete" in resumed.stdout
    expected, actual = shard_tensors(straight / "cache"), shard_tensors(partial)
    assert list(expected) == list(actual) and len(expected) == 5  # 18 items, 4 a shard
    for name in expected:
        assert expected[name].keys() == actual[name].keys()
        for key in expected[name]:
            assert torch.equal(expected[name][key], actual[name][key]), (name, key)
    manifest = json.loads((straight / "cache" / MANIFEST).read_text())
    assert manifest == json.loads((partial / MANIFEST).read_text()) and manifest["complete"]


def test_stage_two_trains_from_the_cache_and_refuses_a_stale_one(stage_one, tmp_path):
    run, cfg = stage_one
    cached = copy_run(run, tmp_path, "cached")
    build_run_cache(cached, cfg, CPU, progress=False)
    source = latent_source(cfg, cached, None, CPU, seed=cfg.seed + 1, batch_size=2)
    assert isinstance(source, CachedLatents)
    mean, logvar, captions = source.latents(3)
    assert mean.shape[1:2] == (4,) and mean.shape == logvar.shape and len(captions) == len(mean)
    stage = transformer_stage(cfg, cached, CPU, MetricsLog(cached / METRICS_FILE))
    stage.train()
    assert stage.step == cfg.transformer_stage.steps
    # Other autoencoder weights than the cache was built from: refused, not silently used.
    (checkpoint,) = (cached / "autoencoder").glob("step-*")
    weights = checkpoint / "autoencoder.safetensors"
    tensors = load_file(weights)
    first = next(iter(tensors))
    tensors[first] = tensors[first] + 1
    from safetensors.torch import save_file

    save_file(tensors, weights)
    with pytest.raises(KinemaError, match="other clips or other weights"):
        latent_source(cfg, cached, None, CPU, seed=1, batch_size=2)


def test_the_cache_is_not_added_under_a_running_transformer_stage(stage_one, tmp_path):
    run, cfg = stage_one
    decoded = copy_run(run, tmp_path, "decoded")
    transformer_stage(cfg, decoded, CPU, MetricsLog(decoded / METRICS_FILE)).train(until=2)
    with pytest.raises(KinemaError, match="would change its batches"):
        build_run_cache(decoded, cfg, CPU, progress=False)


class FrozenText(torch.nn.Module):
    """Stands in for a frozen pretrained encoder: caption length sets the token count."""

    dim = 3

    def encode(self, captions):
        length = max(len(c.split()) for c in captions) + 1
        tokens = torch.zeros(len(captions), length, 3)
        mask = torch.zeros(len(captions), length, dtype=torch.bool)
        for row, caption in enumerate(captions):
            count = len(caption.split()) + 1
            tokens[row, :count] = torch.arange(count).float()[:, None] + len(caption)
            mask[row, :count] = True
        return tokens, mask


def test_frozen_text_embeddings_come_from_the_cache(stage_one, tmp_path):
    from kinema.data.buckets import stage_buckets

    _, cfg = stage_one
    buckets = stage_buckets(cfg, 2)
    clips = load_clips(cfg.data, buckets, target_fps(cfg))
    items = cache_items(clips, views=1, seed=0)
    text = FrozenText()

    def encode_video(frames):
        mean = torch.from_numpy(frames).float().mean(-1)[:, None, ::4, ::4, ::4]  # (B, 1, t, h, w)
        return mean, torch.zeros_like(mean)

    folder = build_cache(
        tmp_path / "cache",
        items,
        clips,
        buckets,
        encode_video,
        lambda captions: split_tokens(*text.encode(captions)),
        {"test": 1},
        shard_size=5,
        progress=False,
    )
    cache = LatentCache(folder, {"test": 1})
    assert cache.has_text and len(cache.usable) == len(items) == 9
    source = CachedLatents(cache, buckets, 0.0, seed=0, device=CPU)
    captions = [cache.items[0].text, "", cache.items[3].text]
    tokens, mask = source.encode_text(text, captions)
    expected_tokens, expected_mask = text.encode(captions)
    assert torch.equal(mask, expected_mask) and torch.equal(
        tokens * mask[..., None], expected_tokens
    )
    padded, padded_mask = pad_tokens([torch.ones(2, 3), torch.ones(0, 3)])
    assert padded.shape == (2, 2, 3) and padded_mask.tolist() == [[True, True], [False, False]]
    assert source.example_latents(0, 4).shape[0] == 1  # (C, N) of the fake latents
