"""Checks, pairing, aggregation with Wilson intervals, diversity, and the small helpers."""

import math

import numpy as np
import pytest

from kinema.eval.analyzer import analyze_video
from kinema.eval.labels import dilate, label_components
from kinema.eval.metrics import (
    Rate,
    check_attributes,
    check_video,
    diversity,
    summarize,
    wilson_interval,
)
from kinema.eval.parser import ObjectSpec, PromptSpec, parse_prompt
from kinema.eval.prompts import ATTRIBUTE_CHOICES
from kinema.eval.shapes import size_class
from kinema.world import Scene, WorldObject, render


def test_wilson_interval_known_values():
    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.2775, abs=1e-4))
    assert wilson_interval(10, 10) == (pytest.approx(0.7225, abs=1e-4), 1.0)
    low, high = wilson_interval(50, 100)
    assert (low, high) == (pytest.approx(0.4038, abs=1e-4), pytest.approx(0.5962, abs=1e-4))
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    rate = Rate(99, 100)
    assert rate.value == 0.99 and rate.interval[0] < 0.99 < rate.interval[1] <= 1.0


def test_only_stated_attributes_are_checked():
    seen = [ObjectSpec("red", "circle", "small", "left", "fast")]
    checks = check_attributes(parse_prompt("a red circle"), "navy", seen)
    assert [(c.attribute, c.ok) for c in checks] == [
        ("count", True),
        ("colour", True),
        ("shape", True),
    ]
    checks = check_attributes(
        parse_prompt("a blue circle on black moving left slowly"), "navy", seen
    )
    assert {c.attribute: c.ok for c in checks} == {
        "count": True,
        "background": False,
        "colour": False,
        "shape": True,
        "motion": True,
        "speed": False,
    }


def test_objects_pair_by_agreement_and_missing_ones_fail():
    spec = PromptSpec(None, (ObjectSpec("red", "star"), ObjectSpec("blue", "square")))
    seen = [ObjectSpec("blue", "square"), ObjectSpec("red", "star")]
    assert all(c.ok for c in check_attributes(spec, "black", seen))
    checks = check_attributes(spec, "black", seen[:1])
    assert [c.observed for c in checks if c.attribute == "colour"] == [None, "blue"]
    assert [c.ok for c in checks] == [False, False, False, True, True]


def test_summary_aggregates_per_instance_and_per_video():
    scene = Scene(
        "gray",
        (
            WorldObject("circle", "red", "large", 0.3, 0.3, "static"),
            WorldObject("star", "blue", "large", 0.7, 0.7, "static"),
        ),
    )
    analysis = analyze_video(render(scene, 32, 32, 5, 4), 4)
    good = check_video("p", parse_prompt("a red circle and a blue star on gray"), analysis)
    bad = check_video("q", parse_prompt("a red circle and a green star on gray"), analysis)
    summary = summarize([good, bad])
    assert summary.adherence == Rate(1, 2)
    assert summary.attributes["colour"] == Rate(3, 4)
    assert summary.attributes["count"] == Rate(2, 2)
    assert summary.consistency == Rate(2, 2)
    assert good.passed("colour") and not bad.passed("colour") and good.passed("motion") is None
    assert set(summary.to_dict()) >= {"attributes", "adherence", "consistency", "physics"}
    rates = summary.attributes.values()
    assert summary.attribute_score == pytest.approx(sum(r.value for r in rates) / len(rates))


def test_diversity_counts_distinct_free_values():
    videos = [
        Scene("black", (WorldObject("circle", "red", size, 0.5, 0.5, "static"),))
        for size in ("small", "large", "large")
    ]
    analyses = [analyze_video(render(v, 32, 32, 5, 4), 4) for v in videos]
    scores = diversity(parse_prompt("a red circle"), analyses, ATTRIBUTE_CHOICES)
    assert scores == {"size": 2 / 3, "motion": 1 / 3, "background": 1 / 3}


def test_labelling_is_eight_connected_per_frame():
    mask = np.zeros((2, 6, 6), dtype=bool)
    mask[0, 0, 0] = mask[0, 1, 1] = True  # diagonal neighbours: one component
    mask[0, 4:6, 4:6] = True
    mask[1, 0, :] = True
    labels, count = label_components(mask)
    assert count == 3
    assert labels[0, 0, 0] == labels[0, 1, 1] != labels[0, 5, 5]
    assert len(np.unique(labels[1][mask[1]])) == 1
    assert dilate(mask[0, :3, :3]).sum() == 9


def test_size_classes_split_between_world_radii():
    assert size_class(math.pi * (0.13 * 32) ** 2, "circle", 32, 32) == "small"
    assert size_class(math.pi * (0.17 * 32) ** 2, "circle", 32, 32) == "medium"
    assert size_class(math.sqrt(3) * (0.23 * 64) ** 2, "triangle", 64, 64) == "large"
