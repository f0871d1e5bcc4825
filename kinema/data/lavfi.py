"""Small real video corpora from FFmpeg's generated sources (lavfi), for tests and benchmarks.

`testsrc2`, `mandelbrot` and `life` give structured, moving H.264 clips of any size, rate
and length without a network or stored media.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from kinema.data.video_io import write_mp4

SOURCES = ("testsrc2", "mandelbrot", "life")


@dataclass(frozen=True)
class LavfiClip:
    name: str  # file stem
    source: str  # one of SOURCES
    width: int
    height: int
    fps: int
    frames: int
    text: str


def lavfi_frames(source: str, width: int, height: int, fps: int, frames: int) -> np.ndarray:
    """`frames` frames of an FFmpeg generated source as (T, H, W, 3) uint8."""
    extra = ":rule=S23/B3:mold=10:random_seed=7" if source == "life" else ""
    spec = f"{source}=s={width}x{height}:r={fps}{extra}"
    out = []
    with av.open(spec, format="lavfi") as container:
        for frame in container.decode(container.streams.video[0]):
            out.append(frame.to_ndarray(format="rgb24"))
            if len(out) == frames:
                break
    return np.stack(out)


def write_lavfi_clip(clip: LavfiClip, folder: Path) -> Path:
    path = Path(folder) / f"{clip.name}.mp4"
    frames = lavfi_frames(clip.source, clip.width, clip.height, clip.fps, clip.frames)
    write_mp4(frames, path, clip.fps)
    return path


def corpus_plan(count: int, seed: int = 0) -> list[LavfiClip]:
    """`count` clips of varied source, size (1:1, 4:3, 16:9, 9:16), frame rate and length."""
    rng = np.random.default_rng(seed)
    sizes = [(64, 64), (64, 48), (96, 54), (48, 80), (80, 80), (112, 64)]
    rates = [8, 10, 12, 24]
    clips = []
    for i in range(count):
        source = SOURCES[i % len(SOURCES)]
        width, height = sizes[int(rng.integers(len(sizes)))]
        fps = rates[int(rng.integers(len(rates)))]
        seconds = float(rng.uniform(1.5, 3.0))
        text = f"{source} pattern, clip {i}"
        clips.append(
            LavfiClip(f"{source}-{i:03d}", source, width, height, fps, round(seconds * fps), text)
        )
    return clips
