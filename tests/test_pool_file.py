"""RUN/latent_pool.safetensors: a resumed world run reads its clip pool instead of encoding it."""

import torch

from kinema.autoencoder import VideoAutoencoder
from kinema.checkpoint import latest_checkpoint, load_config, load_weights, save_weights
from kinema.overrides import with_overrides
from kinema.presets import get_preset
from kinema.train import prepare_run, train
from kinema.train.latents import latent_source
from kinema.train.pool_file import POOL_FILE


def test_the_clip_pool_is_stored_and_read_back(tmp_path, monkeypatch):
    cfg = with_overrides(get_preset("debug"), ["world.latent_pool=24"])
    run = tmp_path / "run"
    prepare_run(run, cfg, resume=False)
    train(run, cfg, torch.device("cpu"))
    stored = run / POOL_FILE
    assert stored.is_file()  # written as the transformer stage began
    assert not list(run.glob("*.partial"))

    autoencoder = VideoAutoencoder(cfg.model.autoencoder)
    load_weights(latest_checkpoint(run / "autoencoder"), "autoencoder", autoencoder)
    encode, encoded = VideoAutoencoder.encode, []

    def counting_encode(self, video):
        encoded.append(len(video))
        return encode(self, video)

    monkeypatch.setattr(VideoAutoencoder, "encode", counting_encode)

    def source():
        batch = cfg.transformer_stage.batch_size
        return latent_source(cfg, run, autoencoder, torch.device("cpu"), cfg.seed + 1, batch)

    read = source()
    assert encoded == []  # nothing encoded: the pool came from the file
    stored.unlink()
    fresh = source()
    assert sum(encoded) == 24 and stored.is_file()  # encoded anew, and stored again
    for (m1, v1, c1), (m2, v2, c2) in zip(read.pools, fresh.pools, strict=True):
        assert torch.equal(m1, m2) and torch.equal(v1, v2) and c1 == c2
    assert read.latents(3)[2] == fresh.latents(3)[2]  # the same batches

    stored.write_bytes(stored.read_bytes()[:200])  # a broken file: encoded again, no error
    encoded.clear()
    source()
    assert sum(encoded) == 24
    with torch.no_grad():  # another autoencoder: its pool is not this one
        next(autoencoder.parameters()).add_(1.0)
    encoded.clear()
    checkpoint = latest_checkpoint(run / "autoencoder")
    save_weights(checkpoint, load_config(checkpoint), {"autoencoder": autoencoder})
    source()
    assert sum(encoded) == 24
