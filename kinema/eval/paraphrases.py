"""Hand-written paraphrases: prompts in words the caption writer never uses, with labels.

`data/paraphrases.jsonl` holds one prompt per line with what it states ("a crimson ball
drifting leftwards": one red circle moving left). The evaluator's parser reads only the
world's own words, so these prompts carry their constraints as labels; they measure how
far the text encoder generalises beyond the training captions.
"""

from __future__ import annotations

import json
from importlib import resources

from kinema.errors import KinemaError
from kinema.eval.parser import ObjectSpec, PromptSpec
from kinema.eval.prompts import EvalPrompt
from kinema.world import BACKGROUND_COLOURS, MOTIONS, OBJECT_COLOURS, SHAPES, SIZES
from kinema.world.scene import SPEEDS

ALLOWED = {
    "colour": OBJECT_COLOURS,
    "shape": SHAPES,
    "size": SIZES,
    "motion": MOTIONS,
    "speed": SPEEDS,
}


def _object(label: dict, line: int) -> ObjectSpec:
    for key, value in label.items():
        if key not in ALLOWED or value not in ALLOWED[key]:
            raise KinemaError(f"paraphrases line {line}: bad label {key}={value!r}")
    return ObjectSpec(**label)


def paraphrase_prompts(count: int | None = None) -> list[EvalPrompt]:
    """The first `count` (default all) labelled paraphrases as evaluation prompts."""
    text = resources.files("kinema.eval").joinpath("data/paraphrases.jsonl").read_text()
    prompts = []
    for line, raw in enumerate(text.splitlines(), start=1):
        item = json.loads(raw)
        background = item.get("background")
        if background is not None and background not in BACKGROUND_COLOURS:
            raise KinemaError(f"paraphrases line {line}: bad background {background!r}")
        objects = tuple(_object(label, line) for label in item["objects"])
        spec = PromptSpec(background=background, objects=objects)
        prompts.append(EvalPrompt(len(prompts), item["prompt"], None, spec))
    return prompts[:count]
