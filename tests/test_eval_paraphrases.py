"""The hand-written paraphrase set: 50+ prompts in other words, labels the evaluator can judge."""

from kinema.eval.analyzer import analyze_video
from kinema.eval.metrics import check_video
from kinema.eval.paraphrases import paraphrase_prompts
from kinema.eval.parser import parse_prompt
from kinema.eval.prompts import evaluation_prompts
from kinema.world.render import render
from kinema.world.scene import BACKGROUND_COLOURS, DIRECTIONS, Scene, WorldObject

HEIGHT = WIDTH = 64
FRAMES, FPS = 17, 8


def scene_for(spec) -> Scene:
    """A scene that shows what a label states (free attributes set to plain values)."""
    label = spec.objects[0]
    dx, dy = DIRECTIONS.get(label.motion, (0.0, 0.0))
    # falls start high; bounces start near the floor, launched upwards (as the world draws)
    start_y = {"falling": 0.3, "bouncing": 0.7}.get(label.motion, 0.5 - 0.2 * dy)
    obj = WorldObject(
        shape=label.shape,
        colour=label.colour,
        size=label.size or "medium",
        x=0.5 - 0.2 * dx,
        y=start_y,
        motion=label.motion,
        speed=label.speed or "slow",
    )
    background = spec.background or next(c for c in BACKGROUND_COLOURS if c != label.colour)
    return Scene(background, (obj,))


def test_the_set_is_large_and_in_other_words():
    prompts = paraphrase_prompts()
    assert len(prompts) >= 50
    assert len({p.prompt for p in prompts}) == len(prompts)
    # The world's own parser reads most of them wrongly: they are not caption-writer text.
    misread = sum(parse_prompt(p.prompt) != p.spec for p in prompts)
    assert misread >= 0.8 * len(prompts)
    assert evaluation_prompts(5, split="paraphrase") == prompts[:5]


def test_renders_of_each_label_pass_the_evaluator():
    failed = []
    for prompt in paraphrase_prompts():
        video = render(scene_for(prompt.spec), HEIGHT, WIDTH, FRAMES, FPS)
        result = check_video(prompt.prompt, prompt.spec, analyze_video(video, FPS))
        if not result.adherent:
            failed.append((prompt.prompt, [c for c in result.checks if not c.ok]))
    assert not failed, failed
