"""What a trained model's text path keeps of each caption attribute: linear-probe accuracy.

    python benchmarks/text_probe.py --checkpoint RUN [--captions 1600] [--threads 2] [--json F]

Captions of the run's world (an unseen seed, moving objects only, so every caption names a
direction) go through the text encoder; a linear classifier (softmax regression on
standardised features) is fitted on three quarters of them and scored on the rest, for each
attribute of the first object — direction, colour, shape, speed — from three places: the
text encoder's mean token state, the transformer's pooled-text embedding and the mean of
its context embedding (what cross-attention reads). The same for the untrained model of the
same config (fixed seed), as the reference of what random features already separate. An
attribute that training made unreadable has fallen below that reference.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from results_table import print_side_by_side  # benchmarks/, beside this script
from torch import Tensor

from kinema.config import TrainConfig, load_json
from kinema.dit import DiffusionTransformer
from kinema.dit.model import masked_mean
from kinema.model import KinemaModel, load_model
from kinema.text import build_text_encoder
from kinema.train.run import RUN_CONFIG_FILE
from kinema.world import WorldDataset
from kinema.world.scene import DIRECTIONS, OBJECT_COLOURS, SHAPES, SPEEDS

ATTRIBUTES = {
    "direction": list(DIRECTIONS),
    "colour": list(OBJECT_COLOURS),
    "shape": list(SHAPES),
    "speed": list(SPEEDS),
}
PROBE_STEPS = 300


def world_captions(run: Path, count: int) -> tuple[list[str], dict[str, Tensor]]:
    """Captions of moving objects and each attribute's class index per caption."""
    world = load_json(TrainConfig, run / RUN_CONFIG_FILE).world
    dataset = WorldDataset(world, seed=4242)
    captions: list[str] = []
    labels: dict[str, list[int]] = {name: [] for name in ATTRIBUTES}
    index = 0
    while len(captions) < count:
        sample = dataset[index]
        index += 1
        first = sample.scene.objects[0]
        if first.motion not in DIRECTIONS:
            continue
        captions.append(sample.caption)
        values = {"direction": first.motion, "colour": first.colour}
        values.update({"shape": first.shape, "speed": first.speed})
        for name, value in values.items():
            labels[name].append(ATTRIBUTES[name].index(value))
    return captions, {name: torch.tensor(v) for name, v in labels.items()}


@torch.no_grad()
def features(model: KinemaModel, captions: list[str]) -> dict[str, Tensor]:
    """(captions, width) features from the three places of the text path."""
    tokens, mask = model.text_encoder.encode(captions)
    found = {"text encoder": masked_mean(tokens, mask)}
    if model.transformer.pooled_embedder is not None:
        found["pooled embedding"] = model.transformer.pooled_embedder(found["text encoder"])
    found["context embedding"] = masked_mean(model.transformer.context_embedder(tokens), mask)
    return found


def probe_accuracy(x: Tensor, y: Tensor, classes: int) -> float:
    """Held-out accuracy of softmax regression fitted on the first three quarters."""
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    fit = 3 * len(x) // 4
    weights = torch.zeros(x.shape[1], classes, requires_grad=True)
    bias = torch.zeros(classes, requires_grad=True)
    optimizer = torch.optim.Adam([weights, bias], lr=0.05)
    for _ in range(PROBE_STEPS):
        logits = x[:fit] @ weights + bias
        loss = F.cross_entropy(logits, y[:fit]) + 1e-3 * weights.pow(2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        predicted = (x[fit:] @ weights + bias).argmax(1)
    return (predicted == y[fit:]).float().mean().item()


def untrained_like(model: KinemaModel) -> KinemaModel:
    torch.manual_seed(0)
    transformer = DiffusionTransformer(model.config.transformer)
    transformer.init_weights()
    text_encoder = build_text_encoder(model.config.text)
    return KinemaModel(model.config, model.autoencoder, transformer.eval(), text_encoder.eval())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="a run folder")
    parser.add_argument("--captions", type=int, default=1600)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    trained = load_model(args.checkpoint, "cpu").eval()
    captions, labels = world_captions(args.checkpoint, args.captions)
    columns: dict[str, dict[str, float]] = {}
    for which, model in (("trained", trained), ("untrained", untrained_like(trained))):
        for place, x in features(model, captions).items():
            column = columns.setdefault(f"{which}: {place}", {})
            for name, y in labels.items():
                column[f"{name} %"] = 100 * probe_accuracy(x, y, len(ATTRIBUTES[name]))
    setup = {"checkpoint": str(args.checkpoint), "captions": len(captions), "world seed": 4242}
    print_side_by_side(columns, setup, args.json)


if __name__ == "__main__":
    main()
