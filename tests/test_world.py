"""The procedural world: scenes, exact motion, rendering, captions and the dataset."""

import itertools
import math
import random
import re

import numpy as np
import pytest

from kinema.config import WorldConfig
from kinema.errors import KinemaError
from kinema.world import (
    BACKGROUND_COLOURS,
    DIRECTIONS,
    MOTIONS,
    OBJECT_COLOURS,
    SHAPES,
    SIZES,
    SPEEDS,
    Scene,
    WorldDataset,
    WorldObject,
    all_phrasings,
    describe,
    is_heldout,
    max_caption_words,
    object_centre,
    object_radius_px,
    render,
    sample_scene,
    vocabulary,
)
from kinema.world.captions import (
    DIRECTION_WORDS,
    MOVE_VERBS,
    SIZE_WORDS,
    SPEED_WORDS,
    STILL_PHRASES,
)
from kinema.world.motion import BOUNCE_APEX, FALL_RESTITUTION, GRAVITY, floor_y_px, radius_px
from kinema.world.render import POLYGON_VERTICES
from kinema.world.scene import MAX_OBJECT_SCALE, MAX_UNIT_OVER_SIDE, frame_unit


def _one(shape="circle", colour="red", size="medium", x=0.5, y=0.5, motion="static", speed="slow"):
    return Scene("black", (WorldObject(shape, colour, size, x, y, motion, speed),))


def _centroids(video: np.ndarray, scene: Scene) -> np.ndarray:
    """(T, 2) alpha-weighted (x, y) of a one-object clip, from its blend over the background."""
    background = np.array(BACKGROUND_COLOURS[scene.background], dtype=float)
    colour = np.array(OBJECT_COLOURS[scene.objects[0].colour], dtype=float)
    alpha = ((video - background) @ (colour - background)) / (
        (colour - background) @ (colour - background)
    )
    _, height, width = alpha.shape
    ys, xs = np.mgrid[0:height, 0:width] + 0.5
    total = alpha.sum(axis=(1, 2))
    return np.stack(
        [(alpha * xs).sum(axis=(1, 2)) / total, (alpha * ys).sum(axis=(1, 2)) / total], 1
    )


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def _scenes(cfg: WorldConfig, count: int, seed: int = 0) -> list[Scene]:
    rng = random.Random(seed)
    return [sample_scene(rng, cfg) for _ in range(count)]


# --- scene vocabulary --------------------------------------------------------------------


def test_colours_are_far_apart():
    # A white object never sits on the white background, so that pair is exempt.
    objects, backgrounds = OBJECT_COLOURS.items(), BACKGROUND_COLOURS.items()
    pairs = [*itertools.combinations(objects, 2), *itertools.product(objects, backgrounds)]
    gaps = [np.linalg.norm(np.subtract(a, b)) for (n, a), (m, b) in pairs if n != m]
    assert min(gaps) > 100
    assert len(OBJECT_COLOURS) >= 8 and len(SHAPES) == 4 and len(MOTIONS) == 11
    for dx, dy in DIRECTIONS.values():
        assert dx * dx + dy * dy == pytest.approx(1.0)


@pytest.mark.parametrize(
    "field, value",
    [
        ("shape", "hexagon"),
        ("colour", "beige"),
        ("size", "huge"),
        ("motion", "spinning"),
        ("speed", "warp"),
    ],
)
def test_invalid_object_names_raise(field, value):
    fields = dict(
        shape="star", colour="red", size="small", x=0.5, y=0.5, motion="left", speed="fast"
    )
    with pytest.raises(ValueError, match=value):
        WorldObject(**{**fields, field: value})


def test_invalid_scenes_raise():
    obj = WorldObject("star", "white", "small", 0.5, 0.5, "static")
    with pytest.raises(ValueError):
        Scene("plaid", (obj,))
    with pytest.raises(ValueError):
        Scene("white", (obj,))  # white on white would be invisible
    with pytest.raises(ValueError):
        Scene("black", ())
    with pytest.raises(ValueError):
        Scene("black", (obj,) * 4)
    with pytest.raises(ValueError):
        WorldObject("star", "red", "small", float("nan"), 0.5, "static")
    with pytest.raises(ValueError):
        render(Scene("black", (obj,)), 0, 8, 1, 8)
    with pytest.raises(ValueError):
        sample_scene(random.Random(0), WorldConfig(split="test"))


# --- motion ------------------------------------------------------------------------------


def test_bouncing_is_a_parabola_above_the_floor():
    height, width = 40, 56
    obj = WorldObject("circle", "red", "large", 0.3, 0.7, "bouncing")
    floor = floor_y_px(obj, height, width)
    times = np.linspace(0.0, 3.0, 3001)
    ys = np.array([object_centre(obj, t, height, width)[1] for t in times])
    assert ys.max() <= floor + 1e-9
    assert ys.min() == pytest.approx(floor - BOUNCE_APEX * height, abs=1e-3)
    assert object_centre(obj, 0.0, height, width)[1] == pytest.approx(0.7 * height)
    assert ys[1] < ys[0]  # starts upwards
    # Between two floor contacts y(t) is one parabola with curvature g / 2.
    contacts = np.flatnonzero((ys[1:-1] >= ys[:-2]) & (ys[1:-1] >= ys[2:])) + 1
    flight = slice(contacts[0] + 1, contacts[1])
    coeffs, residual, *_ = np.polyfit(times[flight], ys[flight], 2, full=True)
    assert residual[0] / (flight.stop - flight.start) < 1e-12
    assert coeffs[0] == pytest.approx(GRAVITY * height / 2.0)
    period = times[contacts[1]] - times[contacts[0]]
    for t in (0.1, 0.37, 0.9):
        assert object_centre(obj, t + period, height, width)[1] == pytest.approx(
            object_centre(obj, t, height, width)[1], abs=0.05
        )


def test_falling_drops_bounces_lower_and_settles():
    height, width = 32, 32
    obj = WorldObject("square", "blue", "small", 0.5, 0.2, "falling")
    floor = floor_y_px(obj, height, width)
    times = np.linspace(0.0, 4.0, 8001)
    ys = np.array([object_centre(obj, t, height, width)[1] for t in times])
    assert ys[0] == pytest.approx(0.2 * height)
    assert np.all(ys <= floor + 1e-9) and np.all(ys >= ys[0] - 1e-9)
    assert ys[-1] == floor  # settled
    apexes = ys[1:-1][(ys[1:-1] < ys[:-2]) & (ys[1:-1] <= ys[2:])]
    heights = floor - apexes
    assert len(heights) >= 2
    np.testing.assert_allclose(heights[1:] / heights[:-1], FALL_RESTITUTION**2, rtol=1e-2)


def test_positions_do_not_depend_on_fps():
    obj = WorldObject("star", "red", "medium", 0.4, 0.3, "falling")
    at_8 = [object_centre(obj, i / 8, 32, 32) for i in range(9)]
    at_24 = [object_centre(obj, i / 24, 32, 32) for i in range(0, 25, 3)]
    np.testing.assert_allclose(at_8, at_24, atol=1e-9)


# --- rendering ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "height, width, frames, fps", [(17, 23, 1, 8), (17, 23, 5, 3), (8, 40, 2, 30)]
)
def test_render_shape_and_dtype(height, width, frames, fps):
    scene = _scenes(WorldConfig(height=height, width=width), 1)[0]
    video = render(scene, height, width, frames, fps)
    assert video.shape == (frames, height, width, 3) and video.dtype == np.uint8


@pytest.mark.parametrize("shape", SHAPES)
def test_edges_are_anti_aliased(shape):
    scene = _one(shape=shape, size="large", x=0.51, y=0.47)
    video = render(scene, 32, 32, 1, 8)[0, :, :, 0].astype(int)
    inside, outside = OBJECT_COLOURS["red"][0], BACKGROUND_COLOURS["black"][0]
    partial = (video > outside) & (video < inside)
    assert partial.sum() >= 8
    assert (video == inside).sum() > partial.sum()


@pytest.mark.parametrize("shape", SHAPES)
def test_coverage_integrates_to_the_shape_area(shape):
    """Checks the signed distance functions (inside/outside and distances) end to end."""
    scene = Scene("black", (WorldObject(shape, "white", "large", 0.5, 0.5, "static"),))
    covered = render(scene, 64, 64, 1, 8)[0, :, :, 0].sum() / 255.0
    radius = SIZES["large"] * 64
    if shape in POLYGON_VERTICES:
        x, y = POLYGON_VERTICES[shape].T
        area = 0.5 * abs(x @ np.roll(y, -1) - y @ np.roll(x, -1)) * radius**2
    else:  # the square has the circle's area by construction
        area = np.pi * radius**2
    assert covered == pytest.approx(area, rel=0.01)


def test_object_scale_grows_the_drawn_area():
    plain = WorldObject("star", "white", "medium", 0.5, 0.5, "static")
    larger = WorldObject("star", "white", "medium", 0.5, 0.5, "static", scale=1.4)
    assert object_radius_px(larger, 32, 32) == pytest.approx(1.4 * object_radius_px(plain, 32, 32))
    areas = [render(Scene("black", (o,)), 32, 32, 1, 8)[0, :, :, 0].sum() for o in (plain, larger)]
    assert areas[1] / areas[0] == pytest.approx(1.4**2, rel=0.03)


@pytest.mark.parametrize("scale", [0.0, -1.0, 1.5, float("nan")])
def test_object_scale_out_of_range_is_refused(scale):
    with pytest.raises(KinemaError, match="object scale must be in"):
        WorldObject("star", "white", "medium", 0.5, 0.5, "static", scale=scale)
    with pytest.raises(KinemaError, match="so a bounce stays in view"):
        WorldDataset(WorldConfig(object_scale=scale))[0]


def test_each_shape_looks_different():
    frames = [render(_one(shape=s, size="large"), 32, 32, 1, 8)[0, :, :, 0] for s in SHAPES]
    for a, b in itertools.combinations(frames, 2):
        assert np.abs(a.astype(int) - b).sum() > 255 * 10


def test_top_object_colour_at_its_centre():
    cfg = WorldConfig(height=32, width=32, frames=9, fps=8)
    for scene in _scenes(cfg, 60):
        video = render(scene, cfg.height, cfg.width, cfg.frames, cfg.fps)
        top = scene.objects[-1]
        for i in (0, cfg.frames - 1):
            x, y = object_centre(top, i / cfg.fps, cfg.height, cfg.width)
            assert tuple(video[i, int(y), int(x)]) == OBJECT_COLOURS[top.colour]


@pytest.mark.parametrize("fps", [8, 12])
def test_moving_right_at_its_speed(fps):
    height, width, frames = 32, 40, 7
    scene = _one(size="small", x=0.2, y=0.5, motion="right", speed="fast")
    centroids = _centroids(render(scene, height, width, frames, fps), scene)
    step = SPEEDS["fast"] * frame_unit(height, width) / fps
    np.testing.assert_allclose(np.diff(centroids[:, 0]), step, atol=0.5)
    np.testing.assert_allclose(np.diff(centroids[:, 1]), 0.0, atol=0.5)
    expected = [object_centre(scene.objects[0], i / fps, height, width) for i in range(frames)]
    np.testing.assert_allclose(centroids, expected, atol=0.5)


def test_rendered_bounce_follows_the_kinematics():
    height, width, frames, fps = 48, 48, 17, 12
    scene = _one(size="medium", x=0.5, y=0.75, motion="bouncing")
    centroids = _centroids(render(scene, height, width, frames, fps), scene)
    expected = [object_centre(scene.objects[0], i / fps, height, width) for i in range(frames)]
    np.testing.assert_allclose(centroids, expected, atol=0.5)


def test_render_is_deterministic():
    scene = _scenes(WorldConfig(), 1)[0]
    np.testing.assert_array_equal(render(scene, 24, 32, 5, 8), render(scene, 24, 32, 5, 8))


# --- dataset -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cfg",
    [
        WorldConfig(),
        WorldConfig(height=17, width=23, frames=5, fps=3),
        WorldConfig(height=48, width=64, frames=17, fps=8, split="all"),
        WorldConfig(height=32, width=32, frames=9, fps=4, object_scale=1.4, split="all"),
    ],
)
def test_objects_stay_in_view(cfg):
    duration = (cfg.frames - 1) / cfg.fps
    for scene in _scenes(cfg, 150):
        assert cfg.min_objects <= len(scene.objects) <= cfg.max_objects
        assert scene.background not in {obj.colour for obj in scene.objects}
        assert len({(obj.colour, obj.shape) for obj in scene.objects}) == len(scene.objects)
        for obj in scene.objects:
            radius = object_radius_px(obj, cfg.height, cfg.width)
            for t in np.linspace(0.0, duration, 4 * cfg.frames):
                x, y = object_centre(obj, t, cfg.height, cfg.width)
                assert radius - 1e-6 <= x <= cfg.width - radius + 1e-6
                assert radius - 1e-6 <= y <= cfg.height - radius + 1e-6


def test_motion_mix():
    motions = [
        obj.motion for scene in _scenes(WorldConfig(split="all"), 400) for obj in scene.objects
    ]
    share = {kind: 0.0 for kind in ("static", "direction", "gravity")}
    for motion in motions:
        kind = (
            "static" if motion == "static" else "direction" if motion in DIRECTIONS else "gravity"
        )
        share[kind] += 1 / len(motions)
    assert (
        0.08 < share["static"] < 0.25 and 0.5 < share["direction"] < 0.8 and share["gravity"] > 0.1
    )
    assert set(motions) == set(MOTIONS)


def test_heldout_split_is_honoured():
    assert not any(is_heldout(s) for s in _scenes(WorldConfig(split="train"), 200))
    assert all(is_heldout(s) for s in _scenes(WorldConfig(split="heldout"), 200))
    mixed = [is_heldout(s) for s in _scenes(WorldConfig(split="all"), 200)]
    assert any(mixed) and not all(mixed)


def test_dataset_is_deterministic_per_index():
    cfg = WorldConfig(height=24, width=24, frames=5, fps=8)
    first, again = WorldDataset(cfg, seed=3)[7], WorldDataset(cfg, seed=3)[7]
    np.testing.assert_array_equal(first.video, again.video)
    assert (first.caption, first.scene) == (again.caption, again.scene)
    assert WorldDataset(cfg, seed=3)[8].scene != first.scene
    assert WorldDataset(cfg, seed=4)[7].scene != first.scene
    videos, captions, scenes = WorldDataset(cfg, seed=3).batch(6, 3)
    assert videos.shape == (3, 5, 24, 24, 3) and videos.dtype == np.uint8
    np.testing.assert_array_equal(videos[1], first.video)
    assert captions[1] == first.caption and scenes[1] == first.scene
    streamed = list(itertools.islice(WorldDataset(cfg, seed=3), 8))
    assert streamed[7].caption == first.caption


# --- captions ----------------------------------------------------------------------------


def _clause_pattern(obj: WorldObject) -> str:
    """The object's noun followed by a phrase of its own motion (and speed), either form."""

    def alternatives(options) -> str:
        return "(" + "|".join(options) + ")"

    noun = f"a {alternatives(SIZE_WORDS[obj.size])} {obj.colour} {obj.shape}"
    if obj.motion in STILL_PHRASES:
        return rf"\b{noun} {alternatives(f for pair in STILL_PHRASES[obj.motion] for f in pair)}\b"
    verbs = alternatives(form for verb in MOVE_VERBS for form in verb)
    direction = alternatives(DIRECTION_WORDS[obj.motion])
    return rf"\b{noun} {verbs} {direction} {alternatives(SPEED_WORDS[obj.speed])}\b"


def test_captions_name_everything():
    rng = random.Random(1)
    for scene in _scenes(WorldConfig(split="all"), 300):
        caption = describe(scene, rng)
        words = _words(caption)
        assert caption[0].isupper() and caption.endswith(".")
        assert scene.background in words
        for obj in scene.objects:
            assert re.search(_clause_pattern(obj), caption.lower()), caption
        assert len(words) <= max_caption_words(len(scene.objects))


def test_many_phrasings():
    for scene in _scenes(WorldConfig(split="all"), 5):
        phrasings = all_phrasings(scene)
        assert len(set(phrasings)) >= 3
        assert phrasings == all_phrasings(scene)
    moving = _one(motion="up-left", speed="fast")
    assert "A medium red circle moves up and to the left quickly, on a black background." in (
        all_phrasings(moving)
    )


def test_vocabulary_is_complete_and_exact():
    vocab = vocabulary()
    assert vocab == sorted(set(vocab))
    rng = random.Random(2)
    seen: set[str] = set()
    for scene in _scenes(WorldConfig(split="all"), 2000):
        seen.update(_words(describe(scene, rng)))
    assert seen <= set(vocab)
    # No dead words: scenes cycling through every name and motion produce all of them.
    names = [list(OBJECT_COLOURS), list(BACKGROUND_COLOURS), list(SHAPES), list(SIZES)]
    objects = []
    for i, (motion, speed) in enumerate(itertools.product(MOTIONS, SPEEDS)):
        colour, _, shape, size = (group[i % len(group)] for group in names)
        objects.append(WorldObject(shape, colour, size, 0.5, 0.5, motion, speed))
    scenes = [Scene(names[1][i % 3], (obj,)) for i, obj in enumerate(objects)]  # no white
    scenes += [Scene("white", tuple(objects[:2])), Scene("white", tuple(objects[2:5]))]
    produced = {word for scene in scenes for text in all_phrasings(scene) for word in _words(text)}
    assert produced == set(vocab)


def test_frame_unit_is_the_side_of_the_frame_area_capped_by_the_shorter_side():
    assert frame_unit(32, 32) == 32.0
    # The buckets of one area draw each size class at about the same pixels.
    for height, width in ((24, 40), (40, 24)):
        assert frame_unit(height, width) == pytest.approx(math.sqrt(960))
        ratio = radius_px("large", 1.4, height, width) / radius_px("large", 1.4, 32, 32)
        assert ratio == pytest.approx(0.97, abs=0.01)
    assert frame_unit(16, 64) == MAX_UNIT_OVER_SIDE * 16  # elongated: capped
    # At the cap a still large object at the largest scale fits across the shorter side.
    assert 2 * radius_px("large", MAX_OBJECT_SCALE, 16, 64) < 16


def test_elongated_worlds_keep_every_object_in_view():
    cfg = WorldConfig(height=16, width=64, frames=9, fps=4, max_objects=2, object_scale=1.4)
    for index in range(40):
        scene = sample_scene(random.Random(index), cfg)
        for obj in scene.objects:
            r = object_radius_px(obj, cfg.height, cfg.width)
            for i in range(cfg.frames):
                x, y = object_centre(obj, i / cfg.fps, cfg.height, cfg.width)
                assert r - 1e-6 <= x <= cfg.width - r + 1e-6
                assert r - 1e-6 <= y <= cfg.height - r + 1e-6
