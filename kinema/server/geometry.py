"""The sizes and durations the served model can make, and the API's words for them.

`seconds` counts the time after the first frame: a clip of `frames` frames at `fps` lasts
`(frames - 1) / fps` seconds by this measure, so one second adds `fps` frames and
`seconds = 0` is a single image. An extension of `seconds` adds `seconds · fps` frames.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from kinema.errors import KinemaError
from kinema.model import KinemaModel
from kinema.pipeline import check_geometry
from kinema.server.config import Limits
from kinema.server.errors import bad_request

_SIZE = re.compile(r"^\s*(\d{1,5})\s*[xX]\s*(\d{1,5})\s*$")


def format_seconds(seconds: float) -> str:
    return f"{round(seconds, 3):g}"


@dataclass(frozen=True)
class Geometry:
    fps: int
    frames: int  # the model's default clip
    height: int
    width: int
    height_multiple: int
    width_multiple: int
    allowed_frames: tuple[int, ...]  # every frame count the model can make, up to the limit
    max_pixels: int
    temporal: int  # the autoencoder's temporal compression
    # The pipeline's own rule (frames, height, width) -> None or KinemaError.
    check: Callable[[int, int, int], None] = field(repr=False, compare=False)

    @classmethod
    def from_model(cls, model: KinemaModel, limits: Limits) -> Geometry:
        cfg = model.config
        ae, patch = cfg.autoencoder, cfg.transformer.patch_size
        check = functools.partial(check_geometry, model)
        max_frames = limits.max_frames or 1 + 4 * (cfg.frames - 1)
        allowed = []
        for frames in range(1, max_frames + 1):
            try:
                check(frames, cfg.height, cfg.width)
            except KinemaError:
                continue
            allowed.append(frames)
        return cls(
            fps=cfg.fps,
            frames=cfg.frames,
            height=cfg.height,
            width=cfg.width,
            height_multiple=ae.spatial_compression * patch[1],
            width_multiple=ae.spatial_compression * patch[2],
            allowed_frames=tuple(allowed),
            max_pixels=limits.max_pixels or 4 * cfg.height * cfg.width,
            temporal=ae.temporal_compression,
            check=check,
        )

    @property
    def default_size(self) -> str:
        return f"{self.width}x{self.height}"

    @property
    def default_seconds(self) -> str:
        return self.seconds_of(self.frames)

    def seconds_of(self, frames: int) -> str:
        return format_seconds((frames - 1) / self.fps)

    @property
    def allowed_seconds(self) -> tuple[str, ...]:
        return tuple(self.seconds_of(frames) for frames in self.allowed_frames)

    @property
    def extension_frames(self) -> tuple[int, ...]:
        """Frame counts an extension may add: whole latent frames after the first."""
        return tuple(frames - 1 for frames in self.allowed_frames if frames > 1)

    @property
    def extension_seconds(self) -> tuple[str, ...]:
        return tuple(format_seconds(added / self.fps) for added in self.extension_frames)

    def size_problem(self, width: int, height: int) -> str | None:
        if width * height > self.max_pixels:
            return f"{width * height} pixels is more than {self.max_pixels}"
        try:
            self.check(self.frames, height, width)
        except KinemaError as error:
            return str(error)
        return None

    def suggested_sizes(self) -> tuple[str, ...]:
        """Sizes for menus and messages: the default, then wider, taller, larger, smaller."""
        found = []
        for scale_w, scale_h in ((1, 1), (2, 1), (1, 2), (2, 2), (0.5, 0.5)):
            width, height = int(self.width * scale_w), int(self.height * scale_h)
            if self.size_problem(width, height) is None:
                found.append(f"{width}x{height}")
        return tuple(dict.fromkeys(found))

    def parse_size(self, size: str | None) -> tuple[int, int]:
        """'WIDTHxHEIGHT' -> (height, width), or a 400 that names the allowed sizes."""
        if size is None or size == "":
            return self.height, self.width
        match = _SIZE.match(str(size))
        if match is None:
            problem = "not of the form WIDTHxHEIGHT"
        else:
            width, height = int(match.group(1)), int(match.group(2))
            problem = self.size_problem(width, height)
            if problem is None:
                return height, width
        raise bad_request(
            f"size '{size}' cannot be made by this model ({problem}): sizes are WIDTHxHEIGHT "
            f"with width a multiple of {self.width_multiple}, height a multiple of "
            f"{self.height_multiple} and at most {self.max_pixels} pixels, such as "
            f"{', '.join(self.suggested_sizes())}; the default is {self.default_size}",
            param="size",
            code="invalid_size",
        )

    def _frame_steps(self, seconds: str | float) -> float:
        """seconds · fps, or NaN for anything that is not a sensible duration."""
        try:
            value = float(seconds)
        except (TypeError, ValueError, OverflowError):  # OverflowError: an int past float range
            return math.nan
        return value * self.fps if 0 <= value <= 1e6 else math.nan

    def parse_seconds(self, seconds: str | float | None) -> int:
        """A clip duration -> its frame count, or a 400 that names the allowed durations."""
        if seconds is None or seconds == "":
            return self.frames
        steps = self._frame_steps(seconds)
        if math.isfinite(steps) and abs(steps - round(steps)) < 1e-6:
            frames = round(steps) + 1
            if frames in self.allowed_frames:
                return frames
        raise bad_request(
            f"seconds '{seconds}' cannot be made by this model: at {self.fps} fps it makes "
            f"{', '.join(self.allowed_seconds)} seconds (1 + {self.fps}·seconds frames); "
            f"the default is {self.default_seconds}",
            param="seconds",
            code="invalid_seconds",
        )

    def parse_extension(self, seconds: str | float | None) -> int:
        """An extension's duration -> the number of frames it adds."""
        if seconds is None or seconds == "":
            return self.frames - 1
        steps = self._frame_steps(seconds)
        if math.isfinite(steps) and abs(steps - round(steps)) < 1e-6:
            added = round(steps)
            if added in self.extension_frames:
                return added
        raise bad_request(
            f"seconds '{seconds}' cannot be added by this model: an extension adds "
            f"{', '.join(self.extension_seconds)} seconds ({self.fps}·seconds frames)",
            param="seconds",
            code="invalid_seconds",
        )

    @property
    def transition_frames(self) -> tuple[int, ...]:
        """Frame counts a transition between two videos may have: its window (the new
        frames, A's last frame and B's first `temporal`) must be a makeable clip."""
        allowed = set(self.allowed_frames)
        return tuple(n for n in self.extension_frames if n + 1 + self.temporal in allowed)

    def parse_transition(self, seconds: str | float | None) -> int:
        """A transition's duration -> the number of new frames between the two videos."""
        choices = self.transition_frames
        if not choices:
            raise bad_request(
                "this model's clips are too short to connect two videos", "seconds", "unsupported"
            )
        if seconds is None or seconds == "":
            return choices[0]
        steps = self._frame_steps(seconds)
        if math.isfinite(steps) and abs(steps - round(steps)) < 1e-6 and round(steps) in choices:
            return round(steps)
        allowed = ", ".join(format_seconds(n / self.fps) for n in choices)
        raise bad_request(
            f"seconds '{seconds}' cannot be a transition of this model: it makes {allowed} "
            f"seconds ({self.fps}·seconds new frames)",
            param="seconds",
            code="invalid_seconds",
        )

    def clip_frames(self, available: int) -> int:
        """The longest makeable clip within `available` frames (for edits of a video)."""
        fitting = [frames for frames in self.allowed_frames if frames <= available]
        return fitting[-1] if fitting else 1
