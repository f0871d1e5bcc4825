"""`--set KEY=VALUE` overrides: the field changes, its type is kept, mistakes are named."""

import pytest

from kinema.errors import KinemaError
from kinema.overrides import with_overrides
from kinema.presets import get_preset


def test_overrides_change_nested_fields_with_their_types():
    cfg = get_preset("shapes-tiny")
    changed = with_overrides(
        cfg,
        [
            "transformer_stage.steps=30000",
            "transformer_stage.lr=4e-4",
            "model.flow.guidance=5",  # a whole number into a float field
            "parallel.compile=true",
            "name=warm",
            "seed=3",
        ],
    )
    assert changed.transformer_stage.steps == 30000
    assert changed.transformer_stage.lr == pytest.approx(4e-4)
    assert changed.model.flow.guidance == 5.0 and isinstance(changed.model.flow.guidance, float)
    assert changed.parallel.compile is True and changed.name == "warm" and changed.seed == 3
    assert changed.autoencoder_stage == cfg.autoencoder_stage  # the rest as it was
    assert with_overrides(cfg, []) == cfg


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("transformer_stage.stepz=3", "transformer_stage has no 'stepz' (it has: batch_size"),
        ("trainer.steps=3", "the run config has no 'trainer'"),
        ("seed.value=3", "seed has no 'value' (it has: no fields)"),
        ("transformer_stage.steps=3.5", "expected a whole number, got '3.5'"),
        ("transformer_stage.lr=fast", "expected a number, got 'fast'"),
        ("parallel.compile=1", "expected true or false, got '1'"),
        ("steps", "expected KEY=VALUE"),
        ("conditioning.connect=2", "conditioning probabilities must be at least 0"),
    ],
)
def test_bad_overrides_are_refused_with_the_rule(assignment, message):
    with pytest.raises(KinemaError) as error:
        with_overrides(get_preset("debug"), [assignment])
    assert message in str(error.value)
