"""Prompt to constraints: the inverse of the caption writer, tolerant of short prompts.

A prompt states a background (maybe) and objects; each object is a noun (a shape word, or
a generic "object"/"shape"/"thing") with optional size and colour words before it and an
optional motion phrase after it. Every phrase table of `kinema.world.captions` is matched
longest-first, plus a few plain words people type ("falls", "bouncing", "still").
Anything a prompt does not state is free: `None` in the result, and never checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kinema.world.captions import DIRECTION_WORDS, SIZE_WORDS, SPEED_WORDS, STILL_PHRASES
from kinema.world.scene import (
    BACKGROUND_COLOURS,
    DIRECTIONS,
    OBJECT_COLOURS,
    SHAPES,
    Scene,
)

GENERIC_NOUNS = ("object", "shape", "thing")
ARTICLES = ("a", "an", "the", "one")
BACKGROUND_NOUNS = ("background", "backdrop")
BACKGROUND_PREPOSITIONS = ("on", "against", "over")

# Plain words beyond the caption tables; longer caption phrases still win.
_EXTRA_PHRASES: dict[str, tuple[str, ...]] = {
    "static": ("still", "static", "stationary", "motionless", "not moving", "does not move"),
    "falling": ("falls", "falling", "drops", "dropping", "fall", "drop"),
    "bouncing": ("bounces", "bouncing", "bounce", "hops", "hopping"),
}


@dataclass(frozen=True)
class ObjectSpec:
    """What a prompt says about one object; None means free."""

    colour: str | None = None
    shape: str | None = None
    size: str | None = None
    motion: str | None = None  # "static", a direction, "falling" or "bouncing"
    speed: str | None = None  # only stated for the eight directions


@dataclass(frozen=True)
class PromptSpec:
    """Everything a prompt constrains. `objects` is empty when it names no object."""

    background: str | None
    objects: tuple[ObjectSpec, ...]

    @property
    def count(self) -> int | None:
        return len(self.objects) or None


def _phrase_table() -> list[tuple[tuple[str, ...], str, str]]:
    """(words, kind, value) for every motion and speed phrase, longest first."""
    table: list[tuple[str, str, str]] = []
    for motion, pairs in STILL_PHRASES.items():
        table += [(form, "motion", motion) for pair in pairs for form in pair]
    for motion, words in _EXTRA_PHRASES.items():
        table += [(form, "motion", motion) for form in words]
    for direction, words in DIRECTION_WORDS.items():
        table += [(form, "motion", direction) for form in words]
    for speed, words in SPEED_WORDS.items():
        table += [(form, "speed", speed) for form in words]
    entries = {(tuple(text.split()), kind, value) for text, kind, value in table}
    return sorted(entries, key=lambda entry: (-len(entry[0]), entry))


_PHRASES = _phrase_table()
_SIZE_OF = {word: size for size, words in SIZE_WORDS.items() for word in words}
_NOUNS = (*SHAPES, *GENERIC_NOUNS)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def _take_background(words: list[str]) -> tuple[str | None, list[bool]]:
    """The stated background colour and which words belong to the background phrase."""
    used = [False] * len(words)
    found: str | None = None
    for i, word in enumerate(words):
        if word not in BACKGROUND_COLOURS:
            continue
        span: tuple[int, int] | None = None
        if i >= 2 and words[i - 1] == "is" and words[i - 2] in BACKGROUND_NOUNS:
            span = (i - 2, i + 1)  # "the background is navy"
        elif i + 1 < len(words) and words[i + 1] in BACKGROUND_NOUNS:
            span = (i, i + 2)  # "a navy background"
        else:
            j = i - 1 if i >= 1 and words[i - 1] in ARTICLES else i
            next_word = words[i + 1] if i + 1 < len(words) else ""
            follows_noun = next_word in _NOUNS or next_word in _SIZE_OF
            if j >= 1 and words[j - 1] in BACKGROUND_PREPOSITIONS and not follows_noun:
                span = (i, i + 1)  # "on black"
        if span is None:
            continue
        start = span[0]
        while start >= 1 and words[start - 1] in (*ARTICLES, *BACKGROUND_PREPOSITIONS):
            start -= 1
        for k in range(start, span[1]):
            used[k] = True
        if found is None:
            found = word
    return found, used


def _motion(words: list[str]) -> tuple[str | None, str | None]:
    """Motion and speed stated in the words that follow an object's noun."""
    motions: list[str] = []
    speed: str | None = None
    i = 0
    while i < len(words):
        for phrase, kind, value in _PHRASES:
            if tuple(words[i : i + len(phrase)]) == phrase:
                if kind == "motion":
                    motions.append(value)
                elif speed is None:
                    speed = value
                i += len(phrase)
                break
        else:
            i += 1
    # Only a fall "falls"/"drops": a fall that also bounces is still a fall.
    if "falling" in motions:
        motion: str | None = "falling"
    else:
        motion = motions[0] if motions else None
    return motion, speed if motion in DIRECTIONS else None


def parse_prompt(text: str) -> PromptSpec:
    """The constraints a prompt states, e.g. "a big red star falls on gray" ->
    background gray, one object: large, red, star, falling."""
    all_words = _words(text)
    background, used = _take_background(all_words)
    words = [w for w, u in zip(all_words, used, strict=True) if not u]
    nouns = [i for i, word in enumerate(words) if word in _NOUNS]
    starts = []
    for i in nouns:
        start = i
        while start >= 1 and (words[start - 1] in OBJECT_COLOURS or words[start - 1] in _SIZE_OF):
            start -= 1
        starts.append(start)
    objects = []
    for k, i in enumerate(nouns):
        adjectives = words[starts[k] : i]
        colours = [w for w in adjectives if w in OBJECT_COLOURS]
        sizes = [_SIZE_OF[w] for w in adjectives if w in _SIZE_OF]
        end = starts[k + 1] if k + 1 < len(nouns) else len(words)
        motion, speed = _motion(words[i + 1 : end])
        objects.append(
            ObjectSpec(
                colour=colours[-1] if colours else None,
                shape=words[i] if words[i] in SHAPES else None,
                size=sizes[-1] if sizes else None,
                motion=motion,
                speed=speed,
            )
        )
    return PromptSpec(background=background, objects=tuple(objects))


def scene_spec(scene: Scene) -> PromptSpec:
    """Everything a full caption of `scene` states (speed only for the eight directions)."""
    return PromptSpec(
        background=scene.background,
        objects=tuple(
            ObjectSpec(
                colour=obj.colour,
                shape=obj.shape,
                size=obj.size,
                motion=obj.motion,
                speed=obj.speed if obj.motion in DIRECTIONS else None,
            )
            for obj in scene.objects
        ),
    )
