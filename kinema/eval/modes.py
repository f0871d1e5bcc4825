"""Every prompting mode measured with the evaluator's eye, on world scenes of one object.

Each case is a world scene rendered one latent frame (4 pixel frames) longer than the
model's window, so the ground truth of what a mode should make exists: the frames after a
clip (extension), before it (backward extension), between two of its parts (connect), or
the same motion in another colour (edit). Cases are no longer than that so that moving
objects stay in view: at 32×32 almost every scene that stays in view for three windows is
static. The generated frames are read by `analyze_video`, never by the caption, and every
position is the analyzer's centroid of the object in pixels.

- image: PSNR of the first output frame against the given image, beside that of the
  autoencoder's own round trip of the image (its ceiling); the prompt's adherence.
- extend forward / backward and loop: the object's jump at the seam against its own
  largest per-frame step + 2 px, and its colour and shape after the seam.
- connect: the jumps at both seams, and the transition's centroid error against the
  ground-truth frames between the two clips.
- edit: the colour word changed; the mean centroid error against the input's trajectory,
  and whether the new colour is the one seen.
- aspect: adherence of text-to-video at other aspect ratios against the model's own.
- long: an extension to many times the window; the share of frames that show the object,
  and the peak resident memory against a short extension.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from kinema.autoencoder import psnr
from kinema.config import WorldConfig
from kinema.eval.analyzer import AnalyzedObject, analyze_video
from kinema.eval.metrics import check_video
from kinema.eval.parser import parse_prompt
from kinema.memory import peak_rss_bytes, reset_peak_rss
from kinema.model import KinemaModel
from kinema.pipeline import GenerationRequest, frames_to_video, generate, video_to_frames
from kinema.world.captions import describe
from kinema.world.dataset import sample_scene
from kinema.world.motion import object_centre
from kinema.world.render import render
from kinema.world.scene import GRAVITY_MOTIONS, OBJECT_COLOURS, Scene, WorldObject

SEAM_SLACK_PX = 2.0  # a seam may jump by the object's own per-frame step plus this


@dataclass(frozen=True)
class ModeCase:
    """One scene of one object, its caption and a ground-truth render of `frames`."""

    scene: Scene
    caption: str
    clip: np.ndarray  # (frames, H, W, 3) uint8
    object_scale: float = 1.0  # the world's size factor, for reading sizes

    @property
    def object(self) -> WorldObject:
        return self.scene.objects[0]


def mode_cases(
    model: KinemaModel, count: int, seed: int, object_scale: float = 1.0
) -> list[ModeCase]:
    """`count` one-object train-split scenes that stay in view for a window and one latent
    frame more, objects drawn `object_scale` times the base sizes (as the model's world)."""
    cfg = model.config
    frames = cfg.frames + cfg.autoencoder.temporal_compression
    world = WorldConfig(
        height=cfg.height,
        width=cfg.width,
        frames=frames,
        fps=cfg.fps,
        max_objects=1,
        object_scale=object_scale,
    )
    cases = []
    for index in range(count):
        rng = random.Random(seed * 1_000_003 + index)
        scene = sample_scene(rng, world)
        clip = render(scene, cfg.height, cfg.width, frames, cfg.fps)
        cases.append(ModeCase(scene, describe(scene, rng), clip, object_scale))
    return cases


def main_object(frames: np.ndarray, fps: float, object_scale: float = 1.0) -> AnalyzedObject | None:
    """The object seen longest in a video, or None when the analyzer finds none."""
    objects = analyze_video(frames, fps, object_scale).objects
    return max(objects, key=lambda o: (o.presence, o.radius)) if objects else None


def centre_track(frames: np.ndarray, fps: float, object_scale: float = 1.0) -> np.ndarray:
    """(T, 2) centroid of the main object per frame; NaN where it is not seen."""
    track = np.full((len(frames), 2), np.nan)
    found = main_object(frames, fps, object_scale)
    for point in found.points if found else ():
        track[point.frame] = (point.x, point.y)
    return track


def largest_step(obj: WorldObject, frames: int, fps: float, height: int, width: int) -> float:
    """The object's largest true move between two consecutive frames, in pixels."""
    centres = np.array([object_centre(obj, i / fps, height, width) for i in range(frames)])
    return float(np.linalg.norm(np.diff(centres, axis=0), axis=1).max()) if frames > 1 else 0.0


def frame_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 frames (scaled to a peak-to-peak of 2, as `psnr` takes)."""
    return psnr(torch.from_numpy(a) / 127.5, torch.from_numpy(b) / 127.5)


@torch.no_grad()
def round_trip(model: KinemaModel, frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 through the model's autoencoder (the posterior mean) and back: the
    best any mode can return of frames it is given."""
    video = frames_to_video(frames[None], model.device)
    mean, _ = model.autoencoder.encode(video)
    return video_to_frames(model.autoencoder.decode(mean))


def keeps_identity(
    frames: np.ndarray, fps: float, obj: WorldObject, object_scale: float = 1.0
) -> bool:
    found = main_object(frames, fps, object_scale)
    return found is not None and (found.colour, found.shape) == (obj.colour, obj.shape)


def seam_jump(track: np.ndarray, before: int, after: int) -> float:
    """Distance between the centroids of two frames; inf if either lacks the object."""
    jump = float(np.linalg.norm(track[after] - track[before]))
    return jump if math.isfinite(jump) else math.inf


@dataclass
class ModeTally:
    """Per-mode lists of measurements, turned into a table row by `summary`."""

    values: dict[str, list[float]]

    def add(self, key: str, value: float) -> None:
        self.values.setdefault(key, []).append(float(value))

    def summary(self) -> dict[str, float]:
        out = {}
        for key, values in self.values.items():
            finite = [v for v in values if math.isfinite(v)]
            if key.endswith("_ok") or key.endswith("_rate"):
                out[key] = 100.0 * sum(values) / len(values)  # percent of cases
            else:
                out[key] = float(np.median(finite)) if finite else math.inf
        return out


def new_colour(case: ModeCase, rng: random.Random) -> str:
    """Another object colour, visible on the scene's background."""
    obj = case.object
    return rng.choice([c for c in OBJECT_COLOURS if c not in (obj.colour, case.scene.background)])


MODES = ("image", "extend", "backward", "loop", "connect", "edit")


@dataclass(frozen=True)
class _Case:
    """What every mode's measurement of one case needs."""

    model: KinemaModel
    case: ModeCase
    seed: int
    steps: int | None

    @property
    def fps(self) -> float:
        return float(self.model.config.fps)

    @property
    def window(self) -> int:
        return self.model.config.frames

    def track(self, video: np.ndarray) -> np.ndarray:
        return centre_track(video, self.fps, self.case.object_scale)

    def identity(self, video: np.ndarray) -> bool:
        return keeps_identity(video, self.fps, self.case.object, self.case.object_scale)

    def made(self, prompt: str | None = None, **mode) -> np.ndarray:
        prompt = self.case.caption if prompt is None else prompt
        return generate(self.model, GenerationRequest(prompt, self.seed, self.steps, **mode))

    def seam_limit(self) -> float:
        cfg = self.model.config
        obj, clip = self.case.object, self.case.clip
        return largest_step(obj, len(clip), self.fps, cfg.height, cfg.width) + SEAM_SLACK_PX

    def seam(self, tally: ModeTally, video: np.ndarray, before: int, after: int) -> None:
        jump = seam_jump(self.track(video), before, after)
        tally.add("seam_jump_px", jump)
        tally.add("seam_ok", jump <= self.seam_limit())


def _image(c: _Case, tally: ModeTally) -> None:
    clip, caption = c.case.clip, c.case.caption
    video = c.made(image=clip[0])
    tally.add("first_frame_psnr_db", frame_psnr(video[0], clip[0]))
    ceiling = round_trip(c.model, clip[:1])[0]  # what the autoencoder alone keeps of it
    tally.add("autoencoder_psnr_db", frame_psnr(ceiling, clip[0]))
    analysis = analyze_video(video, c.fps, c.case.object_scale)
    tally.add("adherence_rate", check_video(caption, parse_prompt(caption), analysis).adherent)
    tally.add("identity_ok", c.identity(video))


def _extend(c: _Case, tally: ModeTally) -> None:
    window = c.window
    video = c.made(extend=c.case.clip[:window], frames=window - 1)  # the clip, then a window
    c.seam(tally, video, window - 1, window)
    tally.add("identity_ok", c.identity(video[window - 1 :]))


def _backward(c: _Case, tally: ModeTally) -> None:
    window = c.window
    later = c.case.clip[-window:]
    video = c.made(extend=later, direction="backward", frames=window - 1)
    c.seam(tally, video, window - 2, window - 1)
    tally.add("identity_ok", c.identity(video[:window]))


def _loop(c: _Case, tally: ModeTally) -> None:
    video = c.made(loop=True)
    c.seam(tally, video, len(video) - 1, 0)  # the last frame leads back into the first
    tally.add("identity_ok", c.identity(video))


def _connect(c: _Case, tally: ModeTally) -> None:
    window, clip = c.window, c.case.clip
    temporal = c.model.config.autoencoder.temporal_compression
    added = window - 1 - temporal  # new frames between A's last and B's first
    # A ends and B starts where the truth has `added` frames between them; B is the latent
    # frame the window closes with, so A, the transition and B span the case.
    a_end = len(clip) - temporal - added
    video = c.made(connect=(clip[:a_end], clip[a_end + added :]))
    truth = clip[: len(video)]
    track, true_track = c.track(video), c.track(truth)
    jumps = (
        seam_jump(track, a_end - 1, a_end),
        seam_jump(track, a_end + added - 1, a_end + added),
    )
    tally.add("seam_jump_px", max(jumps))
    tally.add("seam_ok", max(jumps) <= c.seam_limit())
    between = slice(a_end, a_end + added)
    error = np.linalg.norm(track[between] - true_track[between], axis=1)
    tally.add(
        "transition_error_px", float(np.mean(error)) if np.isfinite(error).all() else math.inf
    )
    psnrs = [frame_psnr(a, b) for a, b in zip(video[between], truth[between], strict=True)]
    tally.add("transition_psnr_db", float(np.mean(psnrs)))
    tally.add("identity_ok", c.identity(video[between]))


def _edit(
    c: _Case, tally: ModeTally, strength: float, method: str = "flowedit", source: bool = True
) -> None:
    """The colour word changed; `source`: the methods that read what the input shows are
    told its caption (else the empty prompt)."""
    obj, clip = c.case.object, c.case.clip
    colour = new_colour(c.case, random.Random(c.seed))
    video = c.made(
        c.case.caption.replace(obj.colour, colour),
        edit=clip[: c.window],
        strength=strength,
        edit_method=method,
        source_prompt=c.case.caption if source else "",
    )
    found = main_object(video, c.fps, c.case.object_scale)
    track, true_track = c.track(video), c.track(clip[: len(video)])
    error = np.linalg.norm(track - true_track, axis=1)
    mean_error = float(np.mean(error)) if np.isfinite(error).all() else math.inf
    tally.add("trajectory_error_px", mean_error)
    tally.add("trajectory_ok", mean_error <= 2.0)
    tally.add("colour_changed_ok", found is not None and found.colour == colour)


def measure_edits(
    model: KinemaModel,
    cases: Sequence[ModeCase],
    strength: float,
    method: str,
    source: bool = True,
    steps: int | None = None,
) -> dict[str, float]:
    """The edit alone over every case, with one method and strength."""
    tally = ModeTally({})
    for number, case in enumerate(cases):
        _edit(_Case(model, case, number, steps), tally, strength, method, source)
    return tally.summary()


def measure_modes(
    model: KinemaModel,
    cases: Sequence[ModeCase],
    steps: int | None = None,
    strength: float = 0.6,
    progress: Callable[[str], None] | None = None,
    edit_method: str = "flowedit",
) -> dict[str, dict[str, float]]:
    """Run image, extend (both ways), loop, connect and edit on every case; per mode, the
    median of each measure and the percentage of cases passing each `_ok` check."""
    tallies = {name: ModeTally({}) for name in MODES}
    for number, case in enumerate(cases):
        c = _Case(model, case, number, steps)
        _image(c, tallies["image"])
        _extend(c, tallies["extend"])
        _backward(c, tallies["backward"])
        _loop(c, tallies["loop"])
        _connect(c, tallies["connect"])
        _edit(c, tallies["edit"], strength, edit_method)
        if progress:
            progress(f"case {number + 1}/{len(cases)}")
    return {name: tally.summary() for name, tally in tallies.items()}


def aspect_adherence(
    model: KinemaModel,
    cases: Sequence[ModeCase],
    sizes: Sequence[tuple[int, int]],
    steps: int | None = None,
) -> dict[str, float]:
    """Text-to-video adherence (%) of the cases' captions at each (height, width)."""
    fps = float(model.config.fps)
    out = {}
    for height, width in sizes:
        passed = 0
        for number, case in enumerate(cases):
            request = GenerationRequest(
                case.caption, seed=number, steps=steps, height=height, width=width
            )
            video = generate(model, request)
            analysis = analyze_video(video, fps, case.object_scale)
            passed += check_video(case.caption, parse_prompt(case.caption), analysis).adherent
        out[f"{height}x{width}"] = 100.0 * passed / len(cases)
    return out


def peak_resident_bytes(run: Callable[[], object]) -> tuple[object, int]:
    """What `run()` returns and the process's peak resident memory while it ran."""
    reset_peak_rss()
    result = run()
    return result, peak_rss_bytes()


def lasting_cases(cases: Sequence[ModeCase], count: int = 1) -> list[ModeCase]:
    """The first `count` cases whose object stays in view however long the video (static,
    falling to the floor or bouncing on it): a long video of one should show the object in
    every frame. With none, the first case."""
    staying = [c for c in cases if c.object.motion in ("static", *GRAVITY_MOTIONS)]
    return staying[:count] or list(cases[:1])


def long_video(
    model: KinemaModel, cases: Sequence[ModeCase], factor: int, steps: int | None = None
) -> dict[str, float]:
    """An extension of each case to `factor` windows: the frames showing the object (their
    mean share, and the % of cases with the object in every frame), identity, and peak
    memory against a 2× extension (the largest ratio over the cases)."""
    window, fps = model.config.frames, float(model.config.fps)
    present, every, same, peaks = [], [], [], []
    for case in cases:

        def extended(windows: int, case: ModeCase = case) -> np.ndarray:
            added = windows * (window - 1)
            request = GenerationRequest(
                case.caption, seed=0, steps=steps, extend=case.clip[:window], frames=added
            )
            return generate(model, request)

        short, short_peak = peak_resident_bytes(lambda: extended(2))
        long, long_peak = peak_resident_bytes(lambda: extended(factor))
        shown = np.isfinite(centre_track(long, fps, case.object_scale)).all(axis=1)
        present.append(100.0 * float(shown.mean()))
        every.append(bool(shown.all()))
        same.append(keeps_identity(long, fps, case.object, case.object_scale))
        peaks.append((short_peak, long_peak))
    return {
        "cases": float(len(cases)),
        "frames": float(len(long)),
        "short_frames": float(len(short)),
        "frames_with_object_rate": float(np.mean(present)),
        "every_frame_ok": 100.0 * float(np.mean(every)),
        "identity_ok": 100.0 * float(np.mean(same)),
        "peak_rss_2x_mib": max(p[0] for p in peaks) / 2**20,
        f"peak_rss_{factor}x_mib": max(p[1] for p in peaks) / 2**20,
        "peak_ratio": max(long_peak / short_peak for short_peak, long_peak in peaks),
    }


def aspect_sizes(model: KinemaModel) -> list[tuple[int, int]]:
    """The model's own size, then 16:9 and 9:16 at about its area."""
    from kinema.data.buckets import default_buckets

    cfg = model.config
    buckets = default_buckets(cfg.height, cfg.width, cfg.frames, cfg)
    return [(b.height, b.width) for b in buckets[:3]]
