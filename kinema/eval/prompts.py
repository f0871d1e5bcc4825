"""The fixed evaluation prompts: seeded scenes of the world, captioned, per split.

Prompt i of a seed never depends on how many prompts are asked for, so a short run is a
prefix of a long one. The "heldout" split holds only scenes with a held-out combination
(`kinema.world.HELDOUT_PAIRS`, `HELDOUT_SHAPE_MOTIONS`) that no preset trains on.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

import numpy as np

from kinema.config import WorldConfig
from kinema.errors import KinemaError
from kinema.eval.parser import PromptSpec, parse_prompt
from kinema.world import BACKGROUND_COLOURS, MOTIONS, OBJECT_COLOURS, SHAPES, SIZES
from kinema.world.captions import describe
from kinema.world.dataset import sample_scene
from kinema.world.scene import Scene

SPLITS = ("train", "heldout", "paraphrase")  # paraphrase: kinema/eval/paraphrases.py
EVAL_SEED_BASE = 7_000_001  # evaluation scenes use seeds no training run draws from

# Short prompts that leave attributes free, for the diversity-across-seeds measurement.
DIVERSITY_PROMPTS: tuple[str, ...] = (
    "a red circle",
    "a blue square moving to the right",
    "a star on a black background",
)
# How many values each attribute can take, the most that diversity can show.
ATTRIBUTE_CHOICES: dict[str, int] = {
    "background": len(BACKGROUND_COLOURS),
    "colour": len(OBJECT_COLOURS),
    "shape": len(SHAPES),
    "size": len(SIZES),
    "motion": len(MOTIONS),
}


@dataclass(frozen=True)
class EvalPrompt:
    index: int
    prompt: str
    scene: Scene | None  # the scene the caption was written from (None: written by hand)
    spec: PromptSpec  # what the prompt states, as the evaluator reads it


def _rng(seed: int, index: int) -> random.Random:
    state = np.random.SeedSequence([EVAL_SEED_BASE, seed, index]).generate_state(4)
    return random.Random(int.from_bytes(state.tobytes(), "little"))


def evaluation_prompts(
    count: int, split: str = "train", seed: int = 0, world: WorldConfig | None = None
) -> list[EvalPrompt]:
    """`count` captioned scenes of `world` (clip geometry and objects per scene) for `split`."""
    if count < 1:
        raise KinemaError(f"the number of prompts must be at least 1, got {count}")
    if split not in SPLITS:
        raise KinemaError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if seed < 0:
        raise KinemaError(f"seed must be >= 0, got {seed}")
    if split == "paraphrase":
        from kinema.eval.paraphrases import paraphrase_prompts

        return paraphrase_prompts(count)
    cfg = replace(world or WorldConfig(max_objects=1), split=split)
    prompts = []
    for index in range(count):
        rng = _rng(seed, index)
        scene = sample_scene(rng, cfg)
        caption = describe(scene, rng)
        prompts.append(EvalPrompt(index, caption, scene, parse_prompt(caption)))
    return prompts
