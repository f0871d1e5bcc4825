"""What the evaluator still reads after an autoencoder's round trip: the ceiling it sets.

    python benchmarks/autoencoder_ceiling.py RUN_OR_CHECKPOINT [MORE ...] [--clips 192]

Clips of each run's world (train split, a seed the autoencoder never trained on) are
judged by the evaluator as rendered and after `encode` -> posterior mean -> `decode` ->
uint8. No transformer can beat the round trip, so its accuracies bound what generation can
score. Shape is also broken down by shape, where the small corners of stars go first.
One column per run, side by side.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import torch
from results_table import print_side_by_side  # benchmarks/, beside this script

from kinema.autoencoder import VideoAutoencoder, psnr
from kinema.checkpoint import WEIGHT_FILES, latest_checkpoint, load_weights
from kinema.config import TrainConfig, load_json
from kinema.eval.analyzer import analyze_video
from kinema.eval.metrics import ATTRIBUTES, VideoResult, check_video, summarize
from kinema.eval.parser import parse_prompt
from kinema.pipeline import frames_to_video, video_to_frames
from kinema.train.run import RUN_CONFIG_FILE
from kinema.world import WorldDataset

UNSEEN_SEED = 987_654  # the training stages draw from other seeds


def _run_dir(path: Path) -> Path:
    """A run directory, or the run above `RUN/autoencoder/step-N`."""
    for candidate in (path, *path.parents):
        if (candidate / RUN_CONFIG_FILE).exists():
            return candidate
    raise SystemExit(f"error: no {RUN_CONFIG_FILE} at or above {path}")


@torch.no_grad()
def round_trip_column(path: Path, clips: int) -> dict[str, float | int]:
    run = _run_dir(path)
    cfg = load_json(TrainConfig, run / RUN_CONFIG_FILE)
    # A checkpoint (a shipped model's folder included), else the run's latest autoencoder.
    holds_weights = (path / WEIGHT_FILES["autoencoder"]).is_file()
    checkpoint = path if holds_weights else latest_checkpoint(run / "autoencoder")
    autoencoder = VideoAutoencoder(cfg.model.autoencoder)
    load_weights(checkpoint, "autoencoder", autoencoder)
    autoencoder.eval()
    # At the clip length the model generates (the autoencoder may have trained on shorter).
    world = replace(cfg.world, split="train", frames=cfg.model.frames)
    dataset = WorldDataset(world, seed=UNSEEN_SEED)
    rendered: list[VideoResult] = []
    trips: list[VideoResult] = []
    scores: list[float] = []
    shape_hits: dict[str, list[bool]] = defaultdict(list)
    for i in range(clips):
        sample = dataset[i]
        video = frames_to_video(sample.video[None], torch.device("cpu"))
        frames = video_to_frames(autoencoder.decode(autoencoder.encode(video)[0]))
        scores.append(psnr(frames_to_video(frames[None], torch.device("cpu")), video))
        spec = parse_prompt(sample.caption)
        for clip, results in ((sample.video, rendered), (frames, trips)):
            analysis = analyze_video(clip, world.fps, world.object_scale)
            results.append(check_video(sample.caption, spec, analysis))
        trip = trips[-1]
        for check in trip.checks:
            if check.attribute == "shape":  # expected: the prompted shape of that object
                shape_hits[check.expected].append(check.ok)
    column: dict[str, float | int] = {
        "checkpoint": str(checkpoint),
        "psnr_db": sum(scores) / len(scores),
    }
    for name, results in (("rendered", rendered), ("round_trip", trips)):
        summary = summarize(results)
        for attribute in ATTRIBUTES:
            rate = summary.attributes.get(attribute)
            if rate is not None:
                column[f"{name}_{attribute}_%"] = 100 * rate.value
        column[f"{name}_adherence_%"] = 100 * summary.adherence.value
        column[f"{name}_consistency_%"] = 100 * summary.consistency.value
    for shape, hits in sorted(shape_hits.items()):
        column[f"round_trip_shape_{shape}_%"] = 100 * sum(hits) / len(hits)
    return column


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", type=Path, nargs="+", help="run directories or checkpoints")
    parser.add_argument("--clips", type=int, default=192)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    columns = {str(path): round_trip_column(path, args.clips) for path in args.paths}
    print_side_by_side(columns, {"clips": args.clips, "seed": UNSEEN_SEED}, args.json)


if __name__ == "__main__":
    main()
