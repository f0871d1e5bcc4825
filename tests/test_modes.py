"""Prompting modes: window plans (pure), given-frame sampling, and each mode end to end."""

import numpy as np
import pytest
import torch

from kinema import modes
from kinema.errors import KinemaError
from kinema.flow import GivenFrames, euler_sample, partial_schedule, with_given_frames
from kinema.model import load_model
from kinema.pipeline import (
    GenerationRequest,
    fit_frames,
    frames_to_video,
    generate,
    video_to_frames,
)

PROMPT = "a small red circle moves to the left on a black background"


def _clip(frames: int, size: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (frames, size, size, 3), dtype=np.uint8)


def test_latent_spans_and_known_latents():
    assert [list(modes.latent_span(j, 4)) for j in range(3)] == [[0], [1, 2, 3, 4], [5, 6, 7, 8]]
    known = np.zeros(9, dtype=bool)
    known[:5] = True
    assert modes.known_latents(known, 4).tolist() == [True, True, False]
    known[:] = False
    known[5:8] = True  # three of latent 2's four frames: not given
    assert modes.known_latents(known, 4).tolist() == [False, False, False]


def test_fill_unknown_copies_the_nearest_known_frame():
    clip = _clip(9)
    window = modes.Window(clip.copy(), np.array([1, 0, 0, 0, 0, 0, 0, 0, 1], dtype=bool))
    filled = modes.fill_unknown(window)
    assert np.array_equal(filled[1], clip[0]) and np.array_equal(filled[7], clip[8])


def test_window_plans_place_context_where_each_mode_needs_it():
    clip = _clip(13)
    window, context = modes.forward_window(clip, 9, 4)
    assert context == 5 and np.array_equal(window.pixels[:5], clip[-5:])
    assert window.known.tolist() == [True] * 5 + [False] * 4
    window, context = modes.backward_window(clip, 9, 4)
    assert context == 4 and np.array_equal(window.pixels[5:], clip[:4])
    loop = modes.loop_window(clip[:9], 4)
    assert np.array_equal(loop.pixels[5:], clip[:4]) and loop.known.sum() == 5
    connect = modes.connect_window(clip, clip[::-1], 9, 4)
    assert np.array_equal(connect.pixels[0], clip[-1]) and np.array_equal(
        connect.pixels[5], clip[-1]
    )
    with pytest.raises(KinemaError, match="at least 4 input frames"):
        modes.backward_window(clip[:3], 9, 4)
    with pytest.raises(KinemaError, match="at least 9 frames"):
        modes.connect_window(clip, clip, 5, 4)


def test_extension_windows_counts_what_each_window_adds():
    # 9-frame windows after a 9-frame clip keep 5 frames of context and add 4
    assert modes.extension_windows(9, 4, 9, 4, backward=False) == 1
    assert modes.extension_windows(9, 5, 9, 4, backward=False) == 2
    # before it: 4 frames of context, 5 new
    assert modes.extension_windows(9, 10, 9, 4, backward=True) == 2


def test_given_frames_stay_exact_through_sampling():
    latent = torch.randn(1, 2, 3, 4, 4)
    given = GivenFrames(latent, torch.tensor([True, False, True]))
    seen_times = []

    def velocity(x, t):
        seen_times.append(t.clone())
        return torch.ones_like(x)

    noise = torch.randn(1, 2, 3, 4, 4)
    schedule = torch.linspace(1, 0, 5)
    out = given.apply(
        euler_sample(with_given_frames(velocity, given), given.apply(noise), schedule)
    )
    assert torch.equal(out[:, :, 0], latent[:, :, 0]) and torch.equal(out[:, :, 2], latent[:, :, 2])
    assert torch.allclose(out[:, :, 1], noise[:, :, 1] - 1.0)  # moved by ∫v dt = -1
    assert seen_times[0].tolist() == [[0.0, 1.0, 0.0]]  # per-frame times: 0 where given


def test_partial_schedule_starts_at_the_strength():
    schedule = partial_schedule(torch.linspace(1, 0, 11), 0.45)
    assert schedule[0].item() == pytest.approx(0.45) and schedule[-1].item() == 0.0
    assert torch.all(schedule[1:] < 0.45) and len(schedule) == 6
    with pytest.raises(ValueError):
        partial_schedule(torch.linspace(1, 0, 11), 0.0)


def test_fit_frames_covers_and_crops():
    wide = np.zeros((2, 20, 40, 3), dtype=np.uint8)
    wide[:, :, 18:22] = 255  # a bright band in the middle survives the centre crop
    fitted = fit_frames(wide, 16, 16)
    assert fitted.shape == (2, 16, 16, 3) and fitted[:, :, 8].mean() > 100
    assert fit_frames(wide[0], 8, 8).shape == (1, 8, 8, 3)


def test_image_to_video_starts_on_the_given_image(debug_run):
    model = load_model(debug_run)
    image = _clip(1)[0]
    video = generate(model, GenerationRequest(PROMPT, seed=1, steps=3, image=image))
    # the causal decoder makes frame 0 from latent frame 0 alone: the image's reconstruction
    with torch.no_grad():
        mean, _ = model.autoencoder.encode(frames_to_video(image[None, None], model.device))
        reconstruction = video_to_frames(model.autoencoder.decode(mean))[0]
    assert np.abs(video[0].astype(int) - reconstruction).max() <= 1


def test_extension_keeps_the_input_and_adds_the_frames_asked_for(debug_run):
    model = load_model(debug_run)
    clip = generate(model, GenerationRequest(PROMPT, seed=2, steps=3))
    calls = []
    forward = generate(
        model,
        GenerationRequest(PROMPT, seed=3, steps=3, extend=clip, frames=7),
        progress=lambda done, total: calls.append((done, total)),
    )
    assert forward.shape[0] == len(clip) + 7 and np.array_equal(forward[: len(clip)], clip)
    assert calls[-1][0] == calls[-1][1] == len(calls)  # progress ends at its own total
    backward = generate(
        model,
        GenerationRequest(PROMPT, seed=3, steps=3, extend=clip, frames=2, direction="backward"),
    )
    assert backward.shape[0] == len(clip) + 2 and np.array_equal(backward[2:], clip)


def test_loop_connect_and_edit_shapes(debug_run):
    model = load_model(debug_run)
    loop = generate(model, GenerationRequest(PROMPT, seed=4, steps=3, loop=True, frames=9))
    assert loop.shape == (5, 16, 16, 3)
    a, b = _clip(5, seed=1), _clip(3, seed=2)
    joined = generate(model, GenerationRequest(PROMPT, seed=5, steps=3, connect=(a, b), frames=9))
    assert joined.shape[0] == 5 + 4 + 3
    assert np.array_equal(joined[:5], a) and np.array_equal(joined[-3:], b)
    source = generate(model, GenerationRequest(PROMPT, seed=6, steps=3))
    light = generate(model, GenerationRequest(PROMPT, seed=7, steps=3, edit=source, strength=0.05))
    heavy = generate(model, GenerationRequest(PROMPT, seed=7, steps=3, edit=source, strength=1.0))
    light_error = np.abs(light.astype(int) - source).mean()
    assert light.shape == source.shape and light_error < np.abs(heavy.astype(int) - source).mean()


def test_modes_refuse_bad_combinations(debug_run):
    model = load_model(debug_run)
    image = _clip(1)[0]
    with pytest.raises(KinemaError, match="one mode at a time"):
        generate(model, GenerationRequest(PROMPT, image=image, edit=_clip(5)))
    with pytest.raises(KinemaError, match="strength"):
        generate(model, GenerationRequest(PROMPT, edit=_clip(5), strength=1.5))
    with pytest.raises(KinemaError, match="direction"):
        generate(model, GenerationRequest(PROMPT, extend=_clip(5), direction="sideways"))
