"""The model that ships in checkpoints/: 24 fixed prompts with fixed seeds, generated and
judged by the evaluator, stay above the bars of its model card."""

from kinema.eval.run import EvalSettings, evaluate_model, run_world
from kinema.model import load_model
from kinema.shipped import default_checkpoint

# Per shipped model, the floors this test holds it to (fractions). kinema-shapes-64: the
# quality bars it ships with (issue 5). kinema-shapes-tiny: its model card's measurements on
# these 24 prompts less a margin of about two prompts, so a change that costs it quality
# fails here while thread counts and CPUs that round differently do not.
BARS = {
    "kinema-shapes-64": {
        "adherence": 0.85,
        "colour": 0.95,
        "shape": 0.90,
        "motion": 0.90,
        "count": 0.95,
    },
    # measured (1 and 2 threads alike): adherence 20/24, colour and count 1.0, motion 23/24,
    # shape 21/24
    "kinema-shapes-tiny": {
        "adherence": 0.74,
        "colour": 0.90,
        "shape": 0.74,
        "motion": 0.90,
        "count": 0.90,
    },
}
PROMPTS = 24
SEED = 0


def test_the_shipped_model_generates_what_its_card_promises():
    folder = default_checkpoint()
    assert folder is not None, "no shipped model in checkpoints/"
    bars = BARS[folder.name]
    run_cfg = run_world(folder)
    assert run_cfg is not None, f"{folder} has no train_config.json (kinema export writes it)"
    settings = EvalSettings(prompts=PROMPTS, seed=SEED, diversity_seeds=0)
    world = run_cfg.world
    run = evaluate_model(
        load_model(folder), settings, str(folder), world.max_objects, False, world.object_scale
    )
    summary = run.summary
    measured = {"adherence": summary.adherence.value}
    measured |= {name: rate.value for name, rate in summary.attributes.items()}
    for name, floor in bars.items():
        assert measured[name] >= floor, f"{name} {measured[name]:.3f} < {floor} ({measured})"
