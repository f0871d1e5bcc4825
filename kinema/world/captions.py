"""English captions for scenes: several phrasings, one closed vocabulary.

A caption is built from a whole-sentence template, a background phrase and one clause per
object ("a small red circle" + a motion phrase). Every choice between phrasings goes
through a `pick(slot, options)` callable: `describe` picks at random, `all_phrasings`
enumerates the choices. The phrase tables below are the whole grammar, so a parser can
invert a caption by matching them, and `vocabulary()` is exactly their words.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol, TypeVar

from kinema.world.scene import (
    BACKGROUND_COLOURS,
    OBJECT_COLOURS,
    SHAPES,
    Scene,
    WorldObject,
)

T = TypeVar("T")

# Whole sentences. {clauses}: objects with finite verbs ("a red star moves left");
# {phrases}: objects with participles ("a red star moving left"); {background}: a phrase
# from BACKGROUND_PHRASES; {colour}: the bare background colour.
TEMPLATES: tuple[str, ...] = (
    "{clauses}, {background}.",
    "{background}, {clauses}.",
    "{phrases} {background}.",
    "We see {phrases} {background}.",
    "A video of {phrases} {background}.",
    "{clauses}. The background is {colour}.",
)

BACKGROUND_PHRASES: tuple[str, ...] = (
    "on a {colour} background",
    "against a {colour} backdrop",
    "over a {colour} background",
)

# Joining two or three object clauses; participle phrases are always listed plainly.
CLAUSE_JOINS: dict[int, tuple[str, ...]] = {
    1: ("{0}",),
    2: ("{0} while {1}", "{0} and {1}", "{0}, and meanwhile {1}"),
    3: ("{0}, {1}, and {2}", "{0}, {1}, while {2}"),
}
PHRASE_JOINS: dict[int, str] = {1: "{0}", 2: "{0} and {1}", 3: "{0}, {1}, and {2}"}

SIZE_WORDS: dict[str, tuple[str, ...]] = {
    "small": ("small", "little"),
    "medium": ("medium",),
    "large": ("large", "big"),
}

# (finite, participle) verb forms, paired so either sentence shape can use the same choice.
MOVE_VERBS: tuple[tuple[str, str], ...] = (
    ("moves", "moving"),
    ("drifts", "drifting"),
    ("slides", "sliding"),
    ("travels", "traveling"),
    ("glides", "gliding"),
)

DIRECTION_WORDS: dict[str, tuple[str, ...]] = {
    "left": ("left", "to the left", "leftwards"),
    "right": ("right", "to the right", "rightwards"),
    "up": ("up", "upwards", "toward the top"),
    "down": ("down", "downwards", "toward the bottom"),
    "up-left": ("up and to the left", "toward the upper left", "diagonally up and left"),
    "up-right": ("up and to the right", "toward the upper right", "diagonally up and right"),
    "down-left": ("down and to the left", "toward the lower left", "diagonally down and left"),
    "down-right": ("down and to the right", "toward the lower right", "diagonally down and right"),
}

SPEED_WORDS: dict[str, tuple[str, ...]] = {
    "slow": ("slowly", "gently"),
    "fast": ("quickly", "fast", "rapidly", "swiftly"),
}

# Motions without a direction: whole (finite, participle) phrases. Only "falling" phrases
# contain "falls"/"drops", so "bounces" alone always means the endless bounce.
STILL_PHRASES: dict[str, tuple[tuple[str, str], ...]] = {
    "static": (
        ("stays still", "staying still"),
        ("sits still", "sitting still"),
        ("does not move", "not moving"),
        ("stays in place", "staying in place"),
        ("remains motionless", "remaining motionless"),
    ),
    "falling": (
        ("falls and bounces", "falling and bouncing"),
        ("drops to the floor", "dropping to the floor"),
        ("falls to the floor and bounces", "falling to the floor and bouncing"),
        ("drops and bounces to a stop", "dropping and bouncing to a stop"),
    ),
    "bouncing": (
        ("bounces up and down", "bouncing up and down"),
        ("keeps bouncing", "bouncing continuously"),
        ("hops up and down", "hopping up and down"),
        ("bounces on the floor", "bouncing on the floor"),
    ),
}


class Pick(Protocol):
    """Choose one of `options` for the decision named `slot`."""

    def __call__(self, slot: str, options: Sequence[T]) -> T: ...


def _motion_phrase(obj: WorldObject, pick: Pick) -> tuple[str, str]:
    """(finite, participle) phrase for the object's motion, e.g. ("moves left fast", ...)."""
    if obj.motion in STILL_PHRASES:
        return pick("still", STILL_PHRASES[obj.motion])
    verb, verb_ing = pick("verb", MOVE_VERBS)
    rest = (
        f"{pick('direction', DIRECTION_WORDS[obj.motion])} {pick('speed', SPEED_WORDS[obj.speed])}"
    )
    return f"{verb} {rest}", f"{verb_ing} {rest}"


def _compose(scene: Scene, pick: Pick) -> str:
    template = pick("template", TEMPLATES)
    colour = scene.background
    background = pick("background", BACKGROUND_PHRASES).format(colour=colour)
    clauses, phrases = [], []
    for obj in scene.objects:
        noun = f"a {pick('size', SIZE_WORDS[obj.size])} {obj.colour} {obj.shape}"
        finite, participle = _motion_phrase(obj, pick)
        clauses.append(f"{noun} {finite}")
        phrases.append(f"{noun} {participle}")
    count = len(scene.objects)
    text = template.format(
        clauses=pick("join", CLAUSE_JOINS[count]).format(*clauses),
        phrases=PHRASE_JOINS[count].format(*phrases),
        background=background,
        colour=colour,
    )
    return text[0].upper() + text[1:]


def describe(scene: Scene, rng: random.Random) -> str:
    """One caption naming every object's size, colour, shape and motion, and the background."""

    def pick(slot: str, options: Sequence[T]) -> T:
        return options[rng.randrange(len(options))]

    return _compose(scene, pick)


def _trace(scene: Scene, fixed: dict[str, int]) -> tuple[str, dict[str, int]]:
    """The caption for fixed option indices (0 where unset) and each slot's option count."""
    counts: dict[str, int] = {}

    def pick(slot: str, options: Sequence[T]) -> T:
        counts[slot] = max(counts.get(slot, 0), len(options))
        return options[fixed.get(slot, 0) % len(options)]

    return _compose(scene, pick), counts


def _enumerate(scene: Scene) -> Iterator[str]:
    """Depth-first over every assignment of option indices to slot names.

    Objects share slots (all use the same index for "verb", "size", ...), so the count stays
    that of a one-object scene while every option of every object still appears.
    """
    stack: list[dict[str, int]] = [{}]
    while stack:
        fixed = stack.pop()
        text, counts = _trace(scene, fixed)
        free = [slot for slot in counts if slot not in fixed]
        if not free:
            yield text
        else:
            stack.extend({**fixed, free[0]: i} for i in reversed(range(counts[free[0]])))


def all_phrasings(scene: Scene) -> list[str]:
    """Every distinct caption of a one-object scene, in a fixed order.

    With several objects, choices are tied across objects (see `_enumerate`), giving a
    deterministic set that still uses every phrase of every object.
    """
    return list(dict.fromkeys(_enumerate(scene)))


def _word_list(text: str) -> list[str]:
    """Lowercase words of a table entry, ignoring {placeholders}."""
    return re.findall(r"[a-z]+", re.sub(r"\{[^}]*\}", " ", text).lower())


def _longest(options: Iterable[str]) -> int:
    return max(len(_word_list(option)) for option in options)


def vocabulary() -> list[str]:
    """Every lowercase word a caption can contain, sorted."""
    pieces: list[str] = [
        *TEMPLATES,
        *BACKGROUND_PHRASES,
        *(join for joins in CLAUSE_JOINS.values() for join in joins),
        *PHRASE_JOINS.values(),
        "a",
        *BACKGROUND_COLOURS,
        *OBJECT_COLOURS,
        *SHAPES,
        *(word for words in SIZE_WORDS.values() for word in words),
        *(form for verb in MOVE_VERBS for form in verb),
        *(words for phrases in DIRECTION_WORDS.values() for words in phrases),
        *(words for phrases in SPEED_WORDS.values() for words in phrases),
        *(form for pairs in STILL_PHRASES.values() for pair in pairs for form in pair),
    ]
    return sorted({word for piece in pieces for word in _word_list(piece)})


def max_caption_words(num_objects: int) -> int:
    """An upper bound on the words in a caption with `num_objects` objects.

    A word tokenizer needs this many positions (plus its own special tokens).
    """
    noun = 3 + _longest(
        word for words in SIZE_WORDS.values() for word in words
    )  # a size colour shape
    moving = (
        _longest(form for verb in MOVE_VERBS for form in verb)
        + _longest(words for phrases in DIRECTION_WORDS.values() for words in phrases)
        + _longest(words for phrases in SPEED_WORDS.values() for words in phrases)
    )
    still = _longest(form for pairs in STILL_PHRASES.values() for pair in pairs for form in pair)
    joins = max(_longest(CLAUSE_JOINS[num_objects]), _longest([PHRASE_JOINS[num_objects]]))
    frame = _longest(TEMPLATES) + _longest(BACKGROUND_PHRASES) + 1  # + the background colour
    return frame + joins + num_objects * (noun + max(moving, still))
