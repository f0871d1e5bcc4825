"""The evaluator checking itself on ground-truth renders, whose answers are known.

`judge_renders` analyses rendered clips (optionally damaged, optionally paired with
another scene's caption) and judges them like generated videos. `chance_summary` is what
a perfect analyzer would score with mismatched captions: the agreement between two
random scenes' true attributes, the level a mismatched evaluation should fall to.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kinema.config import WorldConfig
from kinema.eval.analyzer import analyze_video
from kinema.eval.degrade import Degradation, degrade
from kinema.eval.metrics import (
    Summary,
    VideoResult,
    check_attributes,
    check_video,
    summarize,
)
from kinema.eval.parser import parse_prompt, scene_spec
from kinema.world import WorldDataset, WorldSample
from kinema.world.render import _coverage
from kinema.world.scene import Scene

READABLE_VISIBLE = 0.5  # of an object's area that must show, in at least half the frames


def world_samples(world: WorldConfig, count: int, seed: int = 0) -> list[WorldSample]:
    """The first `count` clips of the world dataset for `world` and `seed`."""
    dataset = WorldDataset(world, seed=seed)
    return [dataset[i] for i in range(count)]


def judge_renders(
    samples: Sequence[WorldSample],
    fps: float,
    damage: Degradation | None = None,
    caption_shift: int = 0,
    seed: int = 0,
    object_scale: float = 1.0,
) -> list[VideoResult]:
    """Judge each render against the caption of sample (i + caption_shift) mod n."""
    rng = np.random.default_rng(seed)
    results = []
    for i, sample in enumerate(samples):
        caption = samples[(i + caption_shift) % len(samples)].caption
        video = sample.video if damage is None else degrade(sample.video, damage, rng)
        analysis = analyze_video(video, fps, object_scale)
        results.append(check_video(caption, parse_prompt(caption), analysis))
    return results


def chance_summary(scenes: Sequence[Scene]) -> Summary:
    """Scores of a perfect analyzer when every scene is judged against every other one's
    caption (all ordered pairs): the chance level of each attribute and of adherence."""
    specs = [scene_spec(scene) for scene in scenes]
    results = []
    for i, truth in enumerate(specs):
        for j, spec in enumerate(specs):
            if i != j:
                checks = check_attributes(spec, scenes[i].background, truth.objects)
                adherent = all(c.ok for c in checks)
                results.append(VideoResult("", tuple(checks), adherent, True, 1.0, 0.0, None))
    return summarize(results)


def readable(scene: Scene, world: WorldConfig) -> bool:
    """Whether every object can be read off the render, by eye or by the analyzer.

    The world lets objects overlap. A scene is unreadable when some object shows less than
    half of itself in more than half of the frames (hidden under later objects), or when two
    objects of one colour overlap in more than half of the frames (they look like one).
    """
    times = np.arange(world.frames) / world.fps
    covers = [_coverage(o, times, world.height, world.width) for o in scene.objects]
    half = world.frames / 2
    for k, cover in enumerate(covers):
        visible = cover.copy()
        for later in covers[k + 1 :]:
            visible *= 1.0 - later
        shown = visible.sum(axis=(1, 2)) / np.maximum(cover.sum(axis=(1, 2)), 1e-9)
        if (shown < READABLE_VISIBLE).sum() > half:
            return False
        for j in range(k + 1, len(covers)):
            if scene.objects[j].colour == scene.objects[k].colour:
                touching = (cover * covers[j]).sum(axis=(1, 2)) > 0
                if touching.sum() > half:
                    return False
    return True
