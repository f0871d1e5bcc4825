"""Which latent frames a training sample is given clean: the prompting modes, drawn per sample.

A prompting mode at generation gives the transformer some latent frames at flow time 0 (an
image, the end of a clip being extended, both ends of a transition). Training draws those
situations on purpose, so that the model reads given frames as context and continues them.
"""

from __future__ import annotations

import numpy as np

from kinema.config import ConditioningConfig

MODES = ("text", "image_to_video", "extend_forward", "extend_backward", "connect")


def draw_modes(cfg: ConditioningConfig, rng: np.random.Generator, batch: int) -> list[str]:
    """One mode name per sample, with the config's probabilities (text takes the rest)."""
    shares = [cfg.image_to_video, cfg.extend_forward, cfg.extend_backward, cfg.connect]
    probabilities = [max(0.0, 1.0 - sum(shares)), *shares]
    picks = rng.choice(len(MODES), size=batch, p=np.asarray(probabilities) / sum(probabilities))
    return [MODES[i] for i in picks]


def mode_frames(mode: str, token_frames: int, rng: np.random.Generator) -> np.ndarray:
    """(token_frames,) bool: the frames a mode gives. A mode that would give every frame (or
    needs more frames than there are) gives none, so the sample trains text-to-video."""
    given = np.zeros(token_frames, dtype=bool)
    if mode == "text" or token_frames < 2:
        return given
    if mode == "image_to_video":
        given[0] = True
    elif mode == "extend_forward":
        given[: rng.integers(1, token_frames)] = True
    elif mode == "extend_backward":
        given[token_frames - rng.integers(1, token_frames) :] = True
    elif mode == "connect" and token_frames >= 3:
        given[[0, -1]] = True
    elif mode != "connect":
        raise ValueError(f"unknown conditioning mode '{mode}'; choose one of {', '.join(MODES)}")
    return given


def draw_given_frames(
    cfg: ConditioningConfig,
    rng: np.random.Generator,
    batch: int,
    frames: int,
    temporal_patch: int = 1,
) -> np.ndarray:
    """(batch, frames) bool of given latent frames. Whole temporal patches only: a token
    spanning `temporal_patch` frames is given or not as one."""
    token_frames = frames // temporal_patch
    modes = draw_modes(cfg, rng, batch)
    rows = [mode_frames(mode, token_frames, rng) for mode in modes]  # each (token_frames,)
    return np.repeat(np.stack(rows), temporal_patch, axis=1)  # (B, F) -> (B, F·pt)


def image_step(cfg: ConditioningConfig, rng: np.random.Generator) -> bool:
    """Whether this step trains images: its batch cut to latent frame 0."""
    return cfg.image_steps > 0 and rng.random() < cfg.image_steps
