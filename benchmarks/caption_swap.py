"""What a trained transformer takes from its prompt: the flow loss with the true caption
against the same caption with one attribute changed.

    python benchmarks/caption_swap.py --checkpoint RUN [--clips 64] [--given-first]
        [--threads 2] [--json out.json]

For each world clip (the run's world, an unseen seed) the latent (posterior mean) is noised
to t = 0.3, 0.5, 0.7 and 0.9 with one fixed noise, and the transformer's flow loss is taken
under the true caption and under the caption of the same scene with one attribute of its
first object changed — shape, colour, direction (moving objects only) — written with the
same phrasing choices, and under the empty prompt. A column per attribute: the mean loss
increase at each t and the share of clips whose loss rose. An attribute the model reads
raises the loss when it is wrong; one it ignores leaves it where it was (≈ 0, rises in
about half the clips).

With --given-first, latent frame 0 is given clean (flow time 0, as image-to-video gives it)
and the loss is taken on the other frames only: where the object starts is then known, so a
model that reads the direction words predicts where it goes and a wrong one must cost.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import replace
from pathlib import Path

import torch
from results_table import print_side_by_side  # benchmarks/, beside this script

from kinema.config import TrainConfig, load_json
from kinema.model import load_model
from kinema.pipeline import frames_to_video
from kinema.train.run import RUN_CONFIG_FILE
from kinema.world import WorldDataset
from kinema.world.captions import describe
from kinema.world.scene import DIRECTIONS, OBJECT_COLOURS, SHAPES, Scene

TIMES = (0.3, 0.5, 0.7, 0.9)


def changed(scene: Scene, attribute: str, rng: random.Random) -> Scene | None:
    """The scene with its first object's `attribute` replaced, or None if it has no such."""
    first = scene.objects[0]
    if attribute == "shape":
        first = replace(first, shape=rng.choice([s for s in SHAPES if s != first.shape]))
    elif attribute == "colour":
        others = [c for c in OBJECT_COLOURS if c not in (first.colour, scene.background)]
        first = replace(first, colour=rng.choice(others))
    elif first.motion in DIRECTIONS:
        first = replace(first, motion=rng.choice([d for d in DIRECTIONS if d != first.motion]))
    else:
        return None
    return replace(scene, objects=(first, *scene.objects[1:]))


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="a run folder")
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--given-first", action="store_true", help="frame 0 given clean")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    world = load_json(TrainConfig, args.checkpoint / RUN_CONFIG_FILE).world
    model = load_model(args.checkpoint, "cpu").eval()
    dataset = WorldDataset(world, seed=777)
    times = torch.tensor(TIMES)
    batched = times.view(-1, 1, 1, 1, 1)

    first = 1 if args.given_first else 0  # latent frames given clean, left out of the loss

    def losses(x0: torch.Tensor, noise: torch.Tensor, caption: str) -> torch.Tensor:
        context, mask = model.text_encoder.encode([caption] * len(times))
        noisy = (1 - batched) * x0 + batched * noise
        frame_times = times[:, None].repeat(1, x0.shape[2])  # (len(TIMES), latent frames)
        noisy[:, :, :first], frame_times[:, :first] = x0[:, :, :first], 0.0
        predicted = model.transformer(noisy, frame_times, context, mask)
        error = (predicted - (noise - x0))[:, :, first:]
        return error.pow(2).mean(dim=(1, 2, 3, 4))  # (len(TIMES),)

    rises: dict[str, list[torch.Tensor]] = {"shape": [], "colour": [], "direction": [], "empty": []}
    for index in range(args.clips):
        sample = dataset[index]
        mean, _ = model.autoencoder.encode(frames_to_video(sample.video[None], model.device))
        x0 = model.normalize_latent(mean)
        noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(index))
        # Captions of the true and the changed scene with the same phrasing choices.
        true_loss = losses(x0, noise, describe(sample.scene, random.Random(index)))
        rises["empty"].append(losses(x0, noise, "") - true_loss)
        for attribute in ("shape", "colour", "direction"):
            other = changed(sample.scene, attribute, random.Random(index))
            if other is not None:
                wrong = losses(x0, noise, describe(other, random.Random(index)))
                rises[attribute].append(wrong - true_loss)
    columns = {}
    for attribute, values in rises.items():
        stacked = torch.stack(values)  # (clips, len(TIMES))
        column: dict[str, float | int] = {"clips": len(values)}
        for k, t in enumerate(TIMES):
            column[f"loss rise t={t}"] = round(stacked[:, k].mean().item(), 6)
        for k, t in enumerate(TIMES):
            column[f"share risen t={t}"] = round((stacked[:, k] > 0).float().mean().item(), 2)
        columns[f"wrong {attribute}" if attribute != "empty" else "empty prompt"] = column
    setup = {"checkpoint": str(args.checkpoint), "world seed": 777, "given": first}
    print_side_by_side(columns, setup, args.json)


if __name__ == "__main__":
    main()
