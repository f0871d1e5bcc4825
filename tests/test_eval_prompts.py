"""The evaluation prompt sets are fixed per seed and honour the held-out split."""

import pytest

from kinema.config import WorldConfig
from kinema.errors import KinemaError
from kinema.eval.parser import scene_spec
from kinema.eval.prompts import evaluation_prompts
from kinema.presets import PRESETS
from kinema.world import WorldDataset, is_heldout


def test_prompts_are_seeded_and_prefix_stable():
    first = evaluation_prompts(12, seed=3)
    assert [p.prompt for p in first] == [p.prompt for p in evaluation_prompts(12, seed=3)]
    assert [p.prompt for p in first[:5]] == [p.prompt for p in evaluation_prompts(5, seed=3)]
    assert [p.prompt for p in first] != [p.prompt for p in evaluation_prompts(12, seed=4)]
    assert all(p.spec == scene_spec(p.scene) for p in first)


def test_splits_are_disjoint_in_combinations():
    world = WorldConfig(max_objects=3)
    assert not any(is_heldout(p.scene) for p in evaluation_prompts(200, "train", 0, world))
    assert all(is_heldout(p.scene) for p in evaluation_prompts(200, "heldout", 0, world))


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_trains_without_heldout_combinations(name):
    world = PRESETS[name].world
    assert world.split == "train"
    dataset = WorldDataset(world, seed=0)
    assert not any(is_heldout(dataset[i].scene) for i in range(150))


def test_bad_requests_are_refused():
    with pytest.raises(KinemaError, match="at least 1"):
        evaluation_prompts(0)
    with pytest.raises(KinemaError, match="split"):
        evaluation_prompts(3, "test")
