"""Prompting modes as pixel frames given to one window of generation (pure numpy).

Every mode but edit is the same request to the model: a window of T = 1 + 4k frames in which
some frames are known. The causal autoencoder turns a window into 1 + k latent frames, latent
frame 0 from pixel frame 0 alone and latent frame j ≥ 1 from pixel frames 4j − 3 … 4j; a latent
frame is given to the transformer clean when all of its pixel frames are known.

Known frames sit where the mode needs them:
- image-to-video: pixel frame 0;
- extend forward: the input's last 1 + 4(m − 1) frames fill the first m latent frames;
- extend backward: the input's first 4m frames fill the last m latent frames;
- loop: a first clip's frame 0 opens the window and its frames 0 … 3 close it, so the
  window without its last 4 frames plays seamlessly in a cycle;
- connect: A's last frame opens the window and B's first 4 frames close it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kinema.errors import KinemaError


@dataclass(frozen=True)
class Window:
    """Pixel frames (T, H, W, 3) uint8 of which `known` (T,) bool are given; the rest free."""

    pixels: np.ndarray
    known: np.ndarray


def latent_span(index: int, temporal: int) -> range:
    """The pixel frames a causal latent frame encodes."""
    return range(0, 1) if index == 0 else range(temporal * (index - 1) + 1, temporal * index + 1)


def known_latents(known: np.ndarray, temporal: int) -> np.ndarray:
    """(L,) bool: the latent frames whose pixel frames are all known."""
    latent_frames = 1 + (len(known) - 1) // temporal
    return np.array([known[list(latent_span(j, temporal))].all() for j in range(latent_frames)])


def fill_unknown(window: Window) -> np.ndarray:
    """Pixels with each unknown frame copied from the nearest known one (the autoencoder
    sees a whole clip; only the latent frames of known pixels are used)."""
    known_at = np.flatnonzero(window.known)
    if len(known_at) == 0:
        return window.pixels
    nearest = known_at[np.abs(np.arange(len(window.known))[:, None] - known_at).argmin(axis=1)]
    return window.pixels[nearest]


def _window(frames: int, like: np.ndarray) -> Window:
    pixels = np.zeros((frames, *like.shape[1:]), dtype=np.uint8)
    return Window(pixels, np.zeros(frames, dtype=bool))


def _place(window: Window, at: int, clip: np.ndarray) -> None:
    window.pixels[at : at + len(clip)] = clip
    window.known[at : at + len(clip)] = True


def image_window(image: np.ndarray, frames: int) -> Window:
    """Image-to-video: `image` (H, W, 3) is frame 0."""
    window = _window(frames, image[None])
    _place(window, 0, image[None])
    return window


def forward_context(length: int, frames: int, temporal: int) -> int:
    """Frames of a clip of `length` that open the window after it: 1 + 4(m − 1) for m latent
    frames, about half the window and never all of it."""
    latent_frames = 1 + (frames - 1) // temporal
    wanted = max(1, min(latent_frames - 1, (latent_frames + 1) // 2))
    return 1 + temporal * (min(wanted, 1 + (length - 1) // temporal) - 1)


def backward_context(length: int, frames: int, temporal: int) -> int:
    """Frames of a clip of `length` that close the window before it: 4m for m latent frames."""
    if length < temporal:
        raise KinemaError(
            f"extending backward needs at least {temporal} input frames (one latent frame of "
            f"the autoencoder's temporal compression {temporal}); got {length}"
        )
    latent_frames = 1 + (frames - 1) // temporal
    return temporal * min(max(1, (latent_frames - 1) // 2), length // temporal)


def forward_window(clip: np.ndarray, frames: int, temporal: int) -> tuple[Window, int]:
    """The next window after `clip` (N, H, W, 3) and how many of its frames are context."""
    context = forward_context(len(clip), frames, temporal)
    window = _window(frames, clip)
    _place(window, 0, clip[len(clip) - context :])
    return window, context


def backward_window(clip: np.ndarray, frames: int, temporal: int) -> tuple[Window, int]:
    """The window before `clip` and how many of its last frames are context."""
    context = backward_context(len(clip), frames, temporal)
    window = _window(frames, clip)
    _place(window, frames - context, clip[:context])
    return window, context


def extension_windows(length: int, added: int, frames: int, temporal: int, backward: bool) -> int:
    """How many windows extending a clip of `length` by `added` frames takes."""
    context = backward_context if backward else forward_context
    windows, made = 0, 0
    while made < added:
        new = frames - context(length + made, frames, temporal)
        windows, made = windows + 1, made + new
    return windows


def loop_window(first: np.ndarray, temporal: int) -> Window:
    """Close a first clip (T, H, W, 3) on itself: frame 0 opens, frames 0 … 3 end the window."""
    if len(first) < 1 + 2 * temporal:
        raise KinemaError(
            f"a loop needs at least {1 + 2 * temporal} frames (one free latent frame between "
            f"the opening frame and the closing {temporal}); got {len(first)}"
        )
    window = _window(len(first), first)
    _place(window, 0, first[:1])
    _place(window, len(first) - temporal, first[:temporal])
    return window


def connect_window(a: np.ndarray, b: np.ndarray, frames: int, temporal: int) -> Window:
    """A transition from the end of clip `a` to the start of clip `b`."""
    if frames < 1 + 2 * temporal:
        raise KinemaError(
            f"connecting needs at least {1 + 2 * temporal} frames (a free latent frame between "
            f"A's last frame and B's first {temporal}); got {frames}"
        )
    opening = b[:temporal]
    if len(opening) < temporal:  # a short B (an image) holds its first frame
        opening = np.concatenate([opening[:1].repeat(temporal - len(opening), 0), opening])
    window = _window(frames, a)
    _place(window, 0, a[-1:])
    _place(window, frames - temporal, opening)
    return window


def edit_frames(clip: np.ndarray, temporal: int) -> np.ndarray:
    """The longest 1 + 4k prefix of a clip to edit."""
    return clip[: 1 + (len(clip) - 1) // temporal * temporal]
