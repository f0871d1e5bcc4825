"""Reading and writing videos: H.264 mp4 through PyAV, GIF and PNG through Pillow.

Frames on disk and in memory are (T, H, W, 3) uint8.
"""

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from kinema.errors import KinemaError

VIDEO_SUFFIXES = (".mp4", ".gif", ".png")


def check_output_path(path: Path) -> None:
    """Refuse, before any work is done, an output that cannot be written."""
    path = Path(path)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise KinemaError(
            f"output must end in one of {', '.join(VIDEO_SUFFIXES)}, got '{path.name}'"
        )
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise KinemaError(f"output folder '{parent}' does not exist")
    if not os.access(parent, os.W_OK):
        raise KinemaError(f"output folder '{parent}' is not writable")
    if path.is_dir():
        raise KinemaError(f"output '{path}' is a folder, not a file")
    if path.exists() and not os.access(path, os.W_OK):
        raise KinemaError(f"output file '{path}' is not writable")


def _even(frames: np.ndarray) -> np.ndarray:
    """yuv420p needs even sizes: repeat the last row/column where one is odd."""
    _, h, w, _ = frames.shape
    return np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def write_mp4(frames: np.ndarray, path: Path, fps: int, crf: int = 12) -> None:
    """H.264, yuv420p, even sizes: plays in every browser. Low crf: small videos, few bits."""
    frames = _even(frames)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def write_gif(frames: np.ndarray, path: Path, fps: int) -> None:
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(
        path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0
    )


def png_frame_paths(path: Path, count: int) -> list[Path]:
    """One frame is `path` itself; several are `stem-0000.png`, `stem-0001.png`, …"""
    path = Path(path)
    if count == 1:
        return [path]
    return [path.with_name(f"{path.stem}-{i:04d}.png") for i in range(count)]


def write_video(frames: np.ndarray, path: Path, fps: int) -> list[Path]:
    """Write (T, H, W, 3) uint8 frames by the path's extension; returns the files written."""
    path = Path(path)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    check_output_path(path)
    suffix = path.suffix.lower()
    if suffix == ".mp4":
        write_mp4(frames, path, fps)
        return [path]
    if suffix == ".gif":
        write_gif(frames, path, fps)
        return [path]
    paths = png_frame_paths(path, len(frames))
    for frame, frame_path in zip(frames, paths, strict=True):
        Image.fromarray(frame).save(frame_path)
    return paths


def read_video(path: Path) -> tuple[np.ndarray, float]:
    """Decode every frame of a video file -> ((T, H, W, 3) uint8, fps)."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    except (av.FFmpegError, IndexError, OSError) as error:
        raise KinemaError(f"cannot read video '{path}': {error}") from error
    if not frames:
        raise KinemaError(f"video '{path}' has no frames")
    return np.stack(frames), fps
