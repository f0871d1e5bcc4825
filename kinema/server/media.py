"""The downloadable variants of a finished video: H.264 mp4, a WebP thumbnail, a sprite sheet."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

from kinema.data.video_io import write_video

MAX_SPRITES = 16


def thumbnail(frames: np.ndarray) -> Image.Image:
    """The middle frame: more telling than the first for most motions."""
    return Image.fromarray(frames[len(frames) // 2])


def spritesheet(frames: np.ndarray, max_sprites: int = MAX_SPRITES) -> Image.Image:
    """Up to `max_sprites` evenly spaced frames in a near-square grid, left to right."""
    count = min(len(frames), max_sprites)
    picks = np.linspace(0, len(frames) - 1, count).round().astype(int)
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    _, height, width, _ = frames.shape
    sheet = np.zeros((rows * height, columns * width, 3), dtype=np.uint8)
    for slot, index in enumerate(picks):
        row, column = divmod(slot, columns)
        sheet[row * height : (row + 1) * height, column * width : (column + 1) * width] = frames[
            index
        ]
    return Image.fromarray(sheet)


def render_variants(frames: np.ndarray, fps: int, folder: Path) -> dict[str, Path]:
    """Write every variant of (T, H, W, 3) uint8 frames into `folder`; variant -> file."""
    folder = Path(folder)
    files = {
        "video": folder / "video.mp4",
        "thumbnail": folder / "thumbnail.webp",
        "spritesheet": folder / "spritesheet.jpg",
    }
    write_video(frames, files["video"], fps)
    thumbnail(frames).save(files["thumbnail"], "WEBP", lossless=True)
    spritesheet(frames).save(files["spritesheet"], "JPEG", quality=90)
    return files
