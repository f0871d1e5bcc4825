"""Prompt expansion: short user prompts rewritten in the detailed caption style of training.

Sora re-captions its training videos in detail and expands user prompts to match. For the
procedural world the caption grammar is known, so a prompt is parsed into what it states,
every unstated attribute is filled in on purpose (seeded), and the caption writer phrases
the result. For real data, any callable `(prompt, seed) -> str` is a `PromptExpander`; a
local causal language-model folder provides one.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Protocol

from kinema.errors import KinemaError
from kinema.world.captions import describe
from kinema.world.scene import (
    BACKGROUND_COLOURS,
    DIRECTIONS,
    MOTIONS,
    OBJECT_COLOURS,
    SHAPES,
    SIZES,
    SPEEDS,
    Scene,
    WorldObject,
)

# Everyday words for the world's own, applied before parsing.
SYNONYMS = {
    "crimson": "red",
    "scarlet": "red",
    "violet": "purple",
    "magenta": "pink",
    "turquoise": "cyan",
    "ball": "circle",
    "disc": "circle",
    "disk": "circle",
    "dot": "circle",
    "box": "square",
    "block": "square",
    "leftwards": "left",
    "rightwards": "right",
    "upwards": "up",
    "downwards": "down",
}


def normalise_words(prompt: str) -> str:
    return " ".join(SYNONYMS.get(word, word) for word in re.findall(r"[a-z]+", prompt.lower()))


class PromptExpander(Protocol):
    def __call__(self, prompt: str, seed: int) -> str: ...


def _fill_object(spec, background: str, taken: set[tuple[str, str]], rng: random.Random):
    colours = [c for c in OBJECT_COLOURS if c != background]
    colour = spec.colour or rng.choice(colours)
    shape = spec.shape or rng.choice([s for s in SHAPES if (colour, s) not in taken] or SHAPES)
    motion = spec.motion or rng.choice(MOTIONS)
    speed = spec.speed or (rng.choice(list(SPEEDS)) if motion in DIRECTIONS else "slow")
    size = spec.size or rng.choice(list(SIZES))
    # Positions never appear in captions; the centre is a placeholder.
    return WorldObject(shape, colour, size, 0.5, 0.5, motion, speed)


def expand_world_prompt(prompt: str, seed: int = 0) -> str:
    """A full world caption stating everything `prompt` states, and the rest chosen by seed.

    "green square going up" -> e.g. "A small green square drifts upward slowly against a
    navy backdrop." A prompt naming no object gets one object of random attributes.
    """
    from kinema.eval.parser import ObjectSpec, parse_prompt  # the caption grammar's inverse

    spec = parse_prompt(normalise_words(prompt))
    rng = random.Random(seed)
    stated_colours = {o.colour for o in spec.objects if o.colour}
    backgrounds = [b for b in BACKGROUND_COLOURS if b not in stated_colours] or list(
        BACKGROUND_COLOURS
    )
    background = spec.background or rng.choice(backgrounds)
    if background in stated_colours:
        raise KinemaError(f"a {background} object cannot be seen on a {background} background")
    objects: list[WorldObject] = []
    for object_spec in spec.objects[:3] or (ObjectSpec(),):
        taken = {(o.colour, o.shape) for o in objects}
        objects.append(_fill_object(object_spec, background, taken, rng))
    return describe(Scene(background, tuple(objects)), rng)


class LocalLanguageModelExpander:
    """Expands prompts with a causal language model from a local folder (never a hub).

    The model continues `instruction.format(prompt=...)`; the first line it writes is the
    expanded prompt. Weights load from safetensors only, without remote code.
    """

    DEFAULT_INSTRUCTION = (
        "Rewrite the video prompt as one detailed caption that names every object, its "
        "colour, size and motion, and the background.\nPrompt: {prompt}\nCaption:"
    )

    def __init__(
        self, folder: Path, instruction: str = DEFAULT_INSTRUCTION, max_new_tokens: int = 64
    ) -> None:
        import transformers

        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise KinemaError(f"language model folder '{folder}' has no config.json")
        local = {"local_files_only": True, "trust_remote_code": False}
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(folder, **local)
        self.model = transformers.AutoModelForCausalLM.from_pretrained(
            folder, use_safetensors=True, **local
        ).eval()
        self.instruction = instruction
        self.max_new_tokens = max_new_tokens

    def __call__(self, prompt: str, seed: int) -> str:
        import torch

        text = self.instruction.format(prompt=prompt)
        inputs = self.tokenizer(text, return_tensors="pt")
        torch.manual_seed(seed)
        with torch.no_grad():
            output = self.model.generate(
                **inputs,
                do_sample=True,
                top_p=0.9,
                max_new_tokens=self.max_new_tokens,
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
            )
        new_tokens = output[0, inputs["input_ids"].shape[1] :]
        written = self.tokenizer.decode(new_tokens, skip_special_tokens=True).strip()
        first_line = written.splitlines()[0].strip() if written else ""
        return first_line or prompt
