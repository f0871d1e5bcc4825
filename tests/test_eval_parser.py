"""The prompt parser inverts the caption writer and leaves unstated attributes free."""

import random

import pytest

from kinema.config import WorldConfig
from kinema.eval.parser import ObjectSpec, PromptSpec, parse_prompt, scene_spec
from kinema.world import Scene, WorldObject, all_phrasings, describe, sample_scene


def _one(motion: str, speed: str = "slow", colour: str = "red", background: str = "black"):
    return Scene(background, (WorldObject("star", colour, "small", 0.5, 0.5, motion, speed),))


@pytest.mark.parametrize(
    "scene",
    [
        _one("static"),
        _one("falling", colour="white", background="navy"),
        _one("bouncing", colour="pink", background="gray"),
        _one("up-left", "fast", colour="yellow", background="white"),
        _one("down", "slow"),
    ],
    ids=["static", "falling", "bouncing", "up-left", "down"],
)
def test_every_phrasing_of_one_object_parses_back(scene):
    phrasings = all_phrasings(scene)
    assert len(phrasings) > 50
    for caption in phrasings:
        assert parse_prompt(caption) == scene_spec(scene), caption


def test_random_captions_of_many_objects_parse_back():
    rng = random.Random(0)
    cfg = WorldConfig(max_objects=3, split="all")
    scenes = [sample_scene(rng, cfg) for _ in range(300)]
    assert {len(s.objects) for s in scenes} == {1, 2, 3}
    for scene in scenes:
        caption = describe(scene, rng)
        assert parse_prompt(caption) == scene_spec(scene), caption
    for scene in scenes[:3]:  # every phrase of every object, tied across objects
        for caption in all_phrasings(scene):
            assert parse_prompt(caption) == scene_spec(scene), caption


@pytest.mark.parametrize(
    "prompt, expected",
    [
        ("a red circle", PromptSpec(None, (ObjectSpec(colour="red", shape="circle"),))),
        (
            "A big yellow triangle moving up fast",
            PromptSpec(None, (ObjectSpec("yellow", "triangle", "large", "up", "fast"),)),
        ),
        (
            "a small blue star falls and bounces on a gray background",
            PromptSpec("gray", (ObjectSpec("blue", "star", "small", "falling"),)),
        ),
        ("a green square on white", PromptSpec("white", (ObjectSpec("green", "square"),))),
        (
            "a star bouncing, black backdrop",
            PromptSpec("black", (ObjectSpec(None, "star", None, "bouncing"),)),
        ),
        ("a white star on a white background", PromptSpec("white", (ObjectSpec("white", "star"),))),
        ("something orange drifting left", PromptSpec(None, ())),
        ("a shape moving right", PromptSpec(None, (ObjectSpec(motion="right"),))),
        (
            "a red circle moves left and a blue square stays still over black",
            PromptSpec(
                "black",
                (
                    ObjectSpec("red", "circle", motion="left"),
                    ObjectSpec("blue", "square", motion="static"),
                ),
            ),
        ),
        ("the background is navy", PromptSpec("navy", ())),
        ("a hexagon spinning", PromptSpec(None, ())),
    ],
)
def test_short_prompts_leave_the_rest_free(prompt, expected):
    assert parse_prompt(prompt) == expected


def test_count_is_stated_only_by_naming_objects():
    assert parse_prompt("on a black background").count is None
    assert parse_prompt("a circle and a square").count == 2
    # Speed only means something for a direction.
    assert parse_prompt("a red star stays still quickly").objects[0].speed is None
