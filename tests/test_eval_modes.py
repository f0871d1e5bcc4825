"""The mode measurements read ground truth as right, and run every mode on a model."""

from dataclasses import replace

import numpy as np

from kinema.eval.analyzer import analyze_video
from kinema.eval.modes import (
    SEAM_SLACK_PX,
    centre_track,
    keeps_identity,
    largest_step,
    lasting_cases,
    long_video,
    measure_modes,
    mode_cases,
    seam_jump,
)
from kinema.model import load_model
from kinema.world.motion import object_centre


def test_ground_truth_has_small_seams_and_keeps_its_identity(debug_run):
    model = load_model(debug_run, "cpu")
    cfg = model.config
    for case in mode_cases(model, 4, seed=1):
        clip, obj = case.clip, case.object
        assert len(clip) == cfg.frames + cfg.autoencoder.temporal_compression
        track = centre_track(clip, cfg.fps)
        truth = np.array(
            [object_centre(obj, i / cfg.fps, cfg.height, cfg.width) for i in range(len(clip))]
        )
        seen = np.isfinite(track).all(axis=1)
        assert seen.mean() > 0.9
        assert np.abs(track[seen] - truth[seen]).max() < 1.5  # the analyzer's centroid
        limit = largest_step(obj, len(clip), cfg.fps, cfg.height, cfg.width) + SEAM_SLACK_PX
        middle = cfg.frames - 1
        if seen[middle] and seen[middle + 1]:
            assert seam_jump(track, middle, middle + 1) <= limit
        assert keeps_identity(clip, cfg.fps, obj)
        # The later frames moved by half the picture: a seam that fails.
        half = (cfg.height // 2, cfg.width // 2)
        jumped = np.concatenate([clip[:middle], np.roll(clip[middle:], half, axis=(1, 2))])
        assert seam_jump(centre_track(jumped, cfg.fps), middle - 1, middle) > limit


def test_every_mode_runs_and_reports_its_measures(debug_run):
    model = load_model(debug_run, "cpu")
    # loop and connect need a window of 9 frames or more; the debug model trained on 5
    model = replace(model, config=replace(model.config, frames=9))
    results = measure_modes(model, mode_cases(model, 1, seed=0), steps=2)
    assert set(results) == {"image", "extend", "backward", "loop", "connect", "edit"}
    assert {"first_frame_psnr_db", "autoencoder_psnr_db", "adherence_rate", "identity_ok"} <= set(
        results["image"]
    )
    assert {"seam_jump_px", "seam_ok"} <= set(results["loop"])
    assert {"transition_error_px", "transition_psnr_db"} <= set(results["connect"])
    assert {"trajectory_error_px", "colour_changed_ok"} <= set(results["edit"])
    for mode in results.values():
        for key, value in mode.items():
            if key.endswith("_ok") or key.endswith("_rate"):
                assert 0.0 <= value <= 100.0


def test_cases_follow_the_world_scale_and_are_read_against_it(debug_run):
    from kinema.eval.metrics import check_video
    from kinema.eval.parser import parse_prompt

    model = load_model(debug_run, "cpu")
    model = replace(model, config=replace(model.config, height=32, width=32, frames=9))
    misread = 0
    for case in mode_cases(model, 4, seed=2, object_scale=1.4):
        assert case.object.scale == 1.4 and case.object_scale == 1.4
        wanted = parse_prompt(case.caption)
        analysis = analyze_video(case.clip, model.config.fps, case.object_scale)
        assert check_video(case.caption, wanted, analysis).adherent
        base_size = analyze_video(case.clip, model.config.fps)
        misread += not check_video(case.caption, wanted, base_size).adherent
    assert misread >= 2  # read at the base sizes, objects drawn 1.4× read a size too large


def test_cases_keep_moving_objects_and_the_long_video_takes_one_that_stays(debug_run):
    model = load_model(debug_run, "cpu")
    model = replace(model, config=replace(model.config, height=32, width=32, frames=9))
    cases = mode_cases(model, 32, seed=0, object_scale=1.4)
    moving = [c for c in cases if c.object.motion not in ("static", "falling", "bouncing")]
    assert len(moving) >= 8  # cases three windows long were all static or falling
    staying = lasting_cases(cases, 3)
    assert len(staying) == 3
    assert all(c.object.motion in ("static", "falling", "bouncing") for c in staying)
    assert lasting_cases(moving, 3) == [moving[0]]  # none stays: the first is taken


def test_the_long_video_extends_each_lasting_case(debug_run):
    model = load_model(debug_run, "cpu")
    staying = lasting_cases(mode_cases(model, 12, seed=0), 2)
    measured = long_video(model, staying, 3, steps=1)
    window = model.config.frames
    assert measured["cases"] == len(staying)
    assert measured["frames"] == window + 3 * (window - 1)
    # a case with the object in every frame adds 100 to the mean share of frames
    assert 0 <= measured["every_frame_ok"] <= measured["frames_with_object_rate"] <= 100
    assert measured["peak_ratio"] > 0
