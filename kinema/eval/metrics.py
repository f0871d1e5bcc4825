"""Per-video checks of a prompt against what the analyzer saw, and their aggregation.

Attributes are checked only where the prompt states them: the object count (when it names
objects), the background, and per object its colour, shape, size, motion and speed.
Prompt objects are paired with seen objects so that the most stated attributes agree.
A video adheres to its prompt when every stated attribute is right. Rates come with
Wilson score intervals, which stay inside [0, 1] and behave at 0% and 100%.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from kinema.eval.analyzer import SceneAnalysis
from kinema.eval.parser import ObjectSpec, PromptSpec

OBJECT_ATTRIBUTES: tuple[str, ...] = ("colour", "shape", "size", "motion", "speed")
ATTRIBUTES: tuple[str, ...] = ("count", "background", *OBJECT_ATTRIBUTES)
GRAVITY = ("falling", "bouncing")
AREA_VARIATION_LIMIT = 0.2  # coefficient of variation of an object's area over its frames
Z_95 = 1.959963984540054


class SeenObject(Protocol):
    """Anything with an object's attributes: an analysed object, or a scene's truth."""

    colour: str | None
    shape: str | None
    size: str | None
    motion: str | None
    speed: str | None


@dataclass(frozen=True)
class AttributeCheck:
    attribute: str
    expected: str
    observed: str | None
    ok: bool
    object_index: int | None = None  # which prompt object, for the per-object attributes


@dataclass(frozen=True)
class Rate:
    """`correct` of `total`, with a 95% Wilson score interval."""

    correct: int
    total: int

    @property
    def value(self) -> float:
        return self.correct / self.total if self.total else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.correct, self.total)

    def to_dict(self) -> dict[str, float | int]:
        low, high = self.interval
        return {
            "correct": self.correct,
            "total": self.total,
            "value": self.value,
            "low": low,
            "high": high,
        }


def wilson_interval(correct: int, total: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (NaN bounds when total is 0)."""
    if total == 0:
        return math.nan, math.nan
    p = correct / total
    denominator = 1.0 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    low = 0.0 if correct == 0 else max(0.0, centre - half)
    high = 1.0 if correct == total else min(1.0, centre + half)
    return low, high


def _agreement(spec: ObjectSpec, seen: SeenObject | None) -> int:
    if seen is None:
        return 0
    return sum(
        getattr(spec, a) is not None and getattr(spec, a) == getattr(seen, a)
        for a in OBJECT_ATTRIBUTES
    )


def pair_objects(
    specs: Sequence[ObjectSpec], seen: Sequence[SeenObject]
) -> list[SeenObject | None]:
    """For each prompt object, the seen object it is checked against (None: missing).

    `seen` comes most prominent first, and only as many objects as the prompt names take
    part: a video cluttered with blobs must not pass by luck of one blob matching.
    """
    pool: list[SeenObject | None] = list(seen[: len(specs)])
    pool += [None] * len(specs)
    best: tuple[int, tuple[int, ...]] = (-1, ())
    for choice in itertools.permutations(range(len(pool)), len(specs)):
        score = sum(_agreement(s, pool[c]) for s, c in zip(specs, choice, strict=True))
        if score > best[0]:
            best = (score, choice)
    return [pool[c] for c in best[1]]


def check_attributes(
    spec: PromptSpec, background: str, seen: Sequence[SeenObject]
) -> list[AttributeCheck]:
    """Every stated attribute of `spec`, checked against a seen background and objects."""
    checks = []
    if spec.count is not None:
        checks.append(
            AttributeCheck("count", str(spec.count), str(len(seen)), spec.count == len(seen))
        )
    if spec.background is not None:
        checks.append(
            AttributeCheck("background", spec.background, background, spec.background == background)
        )
    for index, (wanted, found) in enumerate(
        zip(spec.objects, pair_objects(spec.objects, seen), strict=True)
    ):
        for attribute in OBJECT_ATTRIBUTES:
            expected = getattr(wanted, attribute)
            if expected is None:
                continue
            observed = None if found is None else getattr(found, attribute)
            checks.append(
                AttributeCheck(attribute, expected, observed, observed == expected, index)
            )
    return checks


@dataclass(frozen=True)
class VideoResult:
    """One video judged against its prompt."""

    prompt: str
    checks: tuple[AttributeCheck, ...]
    adherent: bool  # every stated attribute right
    consistent: bool  # every object in every frame, once, with steady colour and area
    presence: float  # mean over objects of the fraction of frames each is accounted for
    smoothness: float  # mean track residual of the fitted motion, in image sizes
    physics: float | None  # mean gravity-fit residual of gravity objects, in image sizes

    def passed(self, attribute: str) -> bool | None:
        """Whether every check of `attribute` passed; None when the prompt leaves it free."""
        results = [c.ok for c in self.checks if c.attribute == attribute]
        return all(results) if results else None


def check_video(prompt: str, spec: PromptSpec, analysis: SceneAnalysis) -> VideoResult:
    """Judge one analysed video against its prompt's constraints."""
    objects = sorted(analysis.objects, key=lambda o: (o.presence, o.radius), reverse=True)
    checks = check_attributes(spec, analysis.background, objects)
    consistent = analysis.extra_tracks == 0 and all(
        o.presence >= 1.0 and o.colour_flicker == 0.0 and o.area_variation <= AREA_VARIATION_LIMIT
        for o in objects
    )
    gravity = [o.fit.gravity_residual for o in objects if o.motion in GRAVITY]
    return VideoResult(
        prompt=prompt,
        checks=tuple(checks),
        adherent=all(c.ok for c in checks),
        consistent=consistent and bool(objects),
        presence=sum(o.presence for o in objects) / len(objects) if objects else 0.0,
        smoothness=sum(o.fit.residual for o in objects) / len(objects) if objects else math.nan,
        physics=sum(gravity) / len(gravity) if gravity else None,
    )


@dataclass(frozen=True)
class Summary:
    """Aggregate of many videos."""

    videos: int
    attributes: dict[str, Rate]
    adherence: Rate
    consistency: Rate
    presence: float
    smoothness: float
    physics: float | None

    @property
    def attribute_score(self) -> float:
        """Mean of the per-attribute accuracies: a coarser headline than adherence that
        still separates weak models (chance is about 0.25 for one object)."""
        return _mean([rate.value for rate in self.attributes.values()])

    def to_dict(self) -> dict:
        return {
            "videos": self.videos,
            "attributes": {name: rate.to_dict() for name, rate in self.attributes.items()},
            "attribute_score": self.attribute_score,
            "adherence": self.adherence.to_dict(),
            "consistency": self.consistency.to_dict(),
            "presence": self.presence,
            "smoothness": self.smoothness,
            "physics": self.physics,
        }


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan


def summarize(results: Sequence[VideoResult]) -> Summary:
    """Per-attribute accuracy over all stated instances, adherence and consistency per video."""
    attributes = {}
    for name in ATTRIBUTES:
        checks = [c for r in results for c in r.checks if c.attribute == name]
        if checks:
            attributes[name] = Rate(sum(c.ok for c in checks), len(checks))
    physics = [r.physics for r in results if r.physics is not None]
    return Summary(
        videos=len(results),
        attributes=attributes,
        adherence=Rate(sum(r.adherent for r in results), len(results)),
        consistency=Rate(sum(r.consistent for r in results), len(results)),
        presence=_mean([r.presence for r in results]),
        smoothness=_mean([r.smoothness for r in results]),
        physics=_mean(physics) if physics else None,
    )


def free_attributes(spec: ObjectSpec) -> tuple[str, ...]:
    """Object attributes a prompt leaves open (speed only matters for directions)."""
    return tuple(a for a in OBJECT_ATTRIBUTES if a != "speed" and getattr(spec, a) is None)


def diversity(spec: PromptSpec, analyses: Sequence[SceneAnalysis], choices: dict[str, int]):
    """How much the attributes a one-object prompt leaves free vary across seeds.

    Per free attribute (and the background, if free): distinct values seen over the videos,
    divided by the most that many videos could show, min(videos, `choices[attribute]`).
    1 means every seed differs; a model that ignores the freedom scores near 1 / videos.
    """
    if len(spec.objects) != 1 or len(analyses) < 2:
        return {}
    free = list(free_attributes(spec.objects[0]))
    values: dict[str, set[str]] = {a: set() for a in free}
    if spec.background is None:
        values["background"] = {a.background for a in analyses}
    for analysis in analyses:
        found = max(analysis.objects, key=lambda o: (o.presence, o.radius), default=None)
        for attribute in free:
            values[attribute].add(str(getattr(found, attribute, None)))
    return {
        attribute: len(seen) / min(len(analyses), choices[attribute])
        for attribute, seen in values.items()
    }
