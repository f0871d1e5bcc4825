"""Causal video autoencoder: shapes, causality, size rules, losses, and a quick overfit."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import pytest
import torch

from kinema.autoencoder import (
    AutoencoderOutput,
    VideoAutoencoder,
    autoencoder_loss,
    foreground_weights,
    psnr,
    sample_latent,
)
from kinema.config import AutoencoderConfig

SIZE = 16  # pixels; both spatial compressions divide it


@cache
def tiny_model(spatial: int) -> VideoAutoencoder:
    torch.manual_seed(0)
    cfg = AutoencoderConfig(latent_channels=4, base_channels=8, spatial_compression=spatial)
    return VideoAutoencoder(cfg).eval()


def random_video(frames: int, batch: int = 2, size: int = SIZE, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, frames, size, size, generator=g) * 2 - 1


def moving_disc(frames: int = 9, size: int = SIZE) -> torch.Tensor:
    """A coloured disc sliding across a gradient: (1, 3, T, H, W) in [-1, 1]."""
    t = torch.linspace(0, 1, frames).view(frames, 1, 1)
    y, x = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    disc = ((x + 0.5 - t) ** 2 + (y - 0.2 * t) ** 2 < 0.16).float()  # (T, H, W)
    red = 0.6 * disc - 0.3 * (1 - disc) + 0.2 * x
    green = -0.5 * disc + 0.4 * y
    blue = 0.8 * disc - 0.6 + 0.0 * x
    return torch.stack([red, green, blue]).unsqueeze(0)


@contextmanager
def single_thread() -> Iterator[None]:
    # Many tiny ops: one thread is as fast, and immune to OpenMP stalls on a busy machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


# --- shapes ------------------------------------------------------------------------------


@pytest.mark.parametrize("spatial", [4, 8])
@pytest.mark.parametrize("frames", [1, 5, 9])
@torch.no_grad()
def test_shapes(spatial: int, frames: int) -> None:
    model = tiny_model(spatial)
    video = random_video(frames)
    mean, logvar = model.encode(video)
    latent_shape = (2, 4, 1 + (frames - 1) // 4, SIZE // spatial, SIZE // spatial)
    assert mean.shape == logvar.shape == latent_shape
    assert model.decode(mean).shape == video.shape
    output = model(video)
    assert isinstance(output, AutoencoderOutput)
    assert output.reconstruction.shape == video.shape
    assert output.mean.shape == latent_shape


@torch.no_grad()
def test_image_round_trip() -> None:
    model = tiny_model(8)
    image = random_video(frames=1)
    mean, _ = model.encode(image)
    assert mean.shape == (2, 4, 1, SIZE // 8, SIZE // 8)
    decoded = model.decode(mean)
    assert decoded.shape == image.shape
    assert decoded.abs().max() <= 1.0


def test_frame_helpers() -> None:
    for frames, latent in [(1, 1), (5, 2), (9, 3), (17, 5)]:
        assert VideoAutoencoder.latent_frames(frames) == latent
        assert VideoAutoencoder.pixel_frames(latent) == frames
    with pytest.raises(ValueError, match="1 \\+ 4k"):
        VideoAutoencoder.latent_frames(8)


# --- causality ---------------------------------------------------------------------------


@pytest.mark.parametrize("spatial", [4, 8])
@pytest.mark.parametrize("frame", [1, 4, 5, 8])
@torch.no_grad()
def test_encoder_is_causal(spatial: int, frame: int) -> None:
    model = tiny_model(spatial)
    video = random_video(9)
    edited = video.clone()
    edited[:, :, frame] = random_video(1, seed=1)[:, :, 0]
    mean, _ = model.encode(video)
    edited_mean, _ = model.encode(edited)
    first_reached = math.ceil(frame / 4)
    assert torch.equal(mean[:, :, :first_reached], edited_mean[:, :, :first_reached])
    assert not torch.allclose(mean[:, :, first_reached], edited_mean[:, :, first_reached])


@pytest.mark.parametrize("latent_frame", [0, 1, 2])
@torch.no_grad()
def test_decoder_is_causal(latent_frame: int) -> None:
    model = tiny_model(4)
    latent = torch.randn(2, 4, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    edited = latent.clone()
    edited[:, :, latent_frame] += 1.0
    pixels = model.decode_raw(latent)
    edited_pixels = model.decode_raw(edited)
    first_reached = 0 if latent_frame == 0 else 1 + 4 * (latent_frame - 1)
    assert torch.equal(pixels[:, :, :first_reached], edited_pixels[:, :, :first_reached])
    assert not torch.allclose(pixels[:, :, first_reached], edited_pixels[:, :, first_reached])


@torch.no_grad()
def test_prefix_encodes_and_decodes_alone() -> None:
    """Causality end to end: a clip's first 1 + 4m frames map to its first 1 + m latents."""
    model = tiny_model(4)
    video = random_video(9)
    mean, _ = model.encode(video)
    prefix_mean, _ = model.encode(video[:, :, :5])
    torch.testing.assert_close(prefix_mean, mean[:, :, :2], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(
        model.decode_raw(mean[:, :, :2]), model.decode_raw(mean)[:, :, :5], rtol=1e-4, atol=1e-5
    )


@torch.no_grad()
def test_chunked_decoding_equals_whole_decoding() -> None:
    """Streaming the decoder chunk by chunk, each causal conv carrying its last input frames,
    gives the whole video's pixels, whatever the chunk size, to float rounding (oneDNN's
    blocking follows the input's length: a few values differ by ~2e-6)."""
    torch.manual_seed(1)
    model = VideoAutoencoder(AutoencoderConfig(latent_channels=4, base_channels=8)).eval()
    for module in model.modules():  # every residual branch live, so time really mixes
        if isinstance(module, torch.nn.Conv3d):
            torch.nn.init.normal_(module.weight, std=0.1)
    latent = torch.randn(1, 4, 7, 4, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # as generation decodes (both through the same kernels)
        whole = model.decode(latent)
    for chunk, lengths in ((1, [1, 4, 4, 4, 4, 4, 4]), (3, [9, 12, 4]), (7, [25]), (20, [25])):
        parts = list(model.decode_chunks(latent, chunk))
        assert [part.shape[2] for part in parts] == lengths
        torch.testing.assert_close(torch.cat(parts, dim=2), whole, rtol=1e-5, atol=1e-5)
    # Streaming ends with the generator: a later whole decode is unchanged.
    torch.testing.assert_close(model.decode(latent), whole, rtol=0, atol=0)
    abandoned = model.decode_chunks(latent, 2)
    next(abandoned)
    abandoned.close()
    torch.testing.assert_close(model.decode(latent), whole, rtol=0, atol=0)
    with pytest.raises(ValueError, match="at least 1 latent frame"):
        next(model.decode_chunks(latent, 0))


# --- size rules --------------------------------------------------------------------------


def test_bad_sizes_name_the_rule() -> None:
    model = tiny_model(8)
    cases = [
        ((10, 32, 32), "frames must be of the form 1 + 4k (1, 5, 9, …), got 10"),
        ((0, 32, 32), "frames must be of the form 1 + 4k (1, 5, 9, …), got 0"),
        (
            (9, 30, 32),
            "height and width must be divisible by 8 (the spatial compression), got 30×32",
        ),
    ]
    for size, message in cases:
        with pytest.raises(ValueError) as error:
            model.check_input_size(*size)
        assert str(error.value) == message
    with pytest.raises(ValueError, match="1 \\+ 4k \\(1, 5, 9, …\\), got 6"):
        model.encode(random_video(6))
    with pytest.raises(ValueError, match="divisible by 8"):
        model.encode(random_video(1, size=12))
    with pytest.raises(ValueError, match="latent must be"):
        model.decode(torch.zeros(1, 3, 1, 2, 2))


def test_bad_config() -> None:
    with pytest.raises(ValueError, match="temporal_compression must be 4"):
        VideoAutoencoder(AutoencoderConfig(temporal_compression=2))
    with pytest.raises(ValueError, match="power of two"):
        VideoAutoencoder(AutoencoderConfig(spatial_compression=6))


# --- losses and training -----------------------------------------------------------------


def test_loss_terms() -> None:
    model = tiny_model(4)
    video = random_video(5)
    output = model(video)
    terms = autoencoder_loss(video, output, kl_weight=1e-3)
    assert set(terms) == {"loss", "reconstruction", "kl"}
    assert all(torch.isfinite(value) and value.ndim == 0 for value in terms.values())
    assert terms["kl"] >= 0
    torch.testing.assert_close(terms["loss"], terms["reconstruction"] + 1e-3 * terms["kl"])
    perfect = AutoencoderOutput(video, torch.zeros(1, 4, 2, 4, 4), torch.zeros(1, 4, 2, 4, 4))
    assert autoencoder_loss(video, perfect, kl_weight=1.0)["loss"] == 0


def test_foreground_weight_counts_object_pixels_more() -> None:
    video = torch.full((1, 3, 5, SIZE, SIZE), -0.5)  # a flat grey background
    video[:, 0, :, 2:5, 2:5] = 0.5  # a 3×3 red-channel object, 1.0 from the median
    weights = foreground_weights(video, 4.0)
    assert weights.shape == (1, 1, 5, SIZE, SIZE)
    assert torch.all(weights[..., 2:5, 2:5] == 5.0)  # 1 + 4 · 1.0
    assert weights.sum() == weights.numel() + 4.0 * 5 * 9  # background pixels keep 1
    # The same error on an object pixel costs 5× what it costs on a background pixel.
    zeros = torch.zeros(1, 4, 2, 4, 4)
    on_object, on_background = video.clone(), video.clone()
    on_object[0, 1, 0, 3, 3] += 0.1
    on_background[0, 1, 0, 10, 10] += 0.1
    loss = {
        name: autoencoder_loss(video, AutoencoderOutput(wrong, zeros, zeros), 0.0, 4.0)["loss"]
        for name, wrong in (("object", on_object), ("background", on_background))
    }
    torch.testing.assert_close(loss["object"], 5.0 * loss["background"])
    plain = autoencoder_loss(video, AutoencoderOutput(on_object, zeros, zeros), 0.0)["loss"]
    torch.testing.assert_close(loss["background"], plain)


def test_psnr() -> None:
    video = random_video(1)
    assert psnr(video, video) == math.inf
    assert psnr(torch.zeros(4), torch.full((4,), 0.2)) == pytest.approx(20.0)  # 4 / 0.04 = 100


def test_sample_latent_is_reparameterised() -> None:
    mean = torch.zeros(2, 4, 1, 2, 2, requires_grad=True)
    logvar = torch.full((2, 4, 1, 2, 2), math.log(4.0), requires_grad=True)
    latent = sample_latent(mean, logvar, torch.Generator().manual_seed(0))
    assert latent.std().item() == pytest.approx(2.0, rel=0.5)
    latent.sum().backward()
    assert mean.grad is not None and logvar.grad is not None and logvar.grad.abs().sum() > 0


def test_bfloat16_autocast() -> None:
    model = tiny_model(4)
    video = random_video(5)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        output = model(video)
    assert output.reconstruction.shape == video.shape
    assert torch.isfinite(output.reconstruction.float()).all()


def test_overfits_one_clip() -> None:
    torch.manual_seed(0)
    cfg = AutoencoderConfig(latent_channels=4, base_channels=8, spatial_compression=4)
    model = VideoAutoencoder(cfg)
    video = moving_disc()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    with single_thread():
        for _ in range(150):
            loss = autoencoder_loss(video, model(video), cfg.kl_weight)["loss"]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            reconstruction = model.decode(model.encode(video)[0])
    assert psnr(reconstruction, video) > 24.0  # 25.6 to 26.6 dB over seeds 0 to 11


def test_inference_convolutions_match_pytorchs_own():
    from kinema.autoencoder.layers import CausalConv3d

    torch.manual_seed(0)
    layer = CausalConv3d(8, 16, (3, 3, 3))
    x = torch.randn(1, 8, 5, 12, 12)
    expected = layer.conv(torch.nn.functional.pad(x, (0, 0, 0, 0, 2, 0), mode="replicate"))
    with torch.no_grad():  # oneDNN, called directly
        fast = layer(x)
    with torch.no_grad(), torch.backends.mkldnn.flags(enabled=False):  # PyTorch's native kernel
        native = layer(x)
    assert torch.allclose(fast, expected, atol=1e-5) and torch.allclose(native, expected, atol=1e-5)
    trained = layer(x)  # with gradients: PyTorch's choice, differentiable
    trained.sum().backward()
    assert layer.conv.weight.grad is not None
