"""What the frozen text encoder itself knows of words the caption writer never uses.

    python benchmarks/paraphrase_probe.py [--captions 3000] [--threads 1] [--json out.json]

Two measures per attribute (colour, shape, motion, size, speed), with no video model:

- probe: a linear classifier (softmax regression on standardised features) fitted on the
  encoder's mean-pooled, normalised states of world captions (one object, train split), then
  scored on unseen world captions and on the hand-written paraphrases
  (`kinema/eval/data/paraphrases.jsonl`) where they state the attribute. A text path that
  reads the pooled sentence state cannot do better on paraphrases than this.
- neighbours: everyday words (below, each with the world word it means) against the world's
  own words of that attribute: the nearest by cosine of the pooled state, of the bare word
  and of the word in a short phrase ("a crimson coloured object" against "a red coloured
  object", …). How far the encoder already puts a synonym next to its world word.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from results_table import print_side_by_side  # benchmarks/, beside this script
from torch import Tensor

from kinema.eval.paraphrases import paraphrase_prompts
from kinema.presets import get_preset
from kinema.text.pretrained import minilm_encoder
from kinema.world.captions import describe
from kinema.world.dataset import sample_scene
from kinema.world.scene import OBJECT_COLOURS, SHAPES, SIZES

ATTRIBUTES = ("colour", "shape", "motion", "size", "speed")
PROBE_STEPS = 300

# Everyday words and the world word each means; the phrase puts both in the same context.
NEIGHBOURS: dict[str, tuple[str, dict[str, str]]] = {
    "colour": (
        "a {} coloured object",
        {
            "crimson": "red",
            "scarlet": "red",
            "ruby": "red",
            "cherry": "red",
            "tangerine": "orange",
            "amber": "orange",
            "peach": "orange",
            "lemon": "yellow",
            "golden": "yellow",
            "mustard": "yellow",
            "emerald": "green",
            "lime": "green",
            "jade": "green",
            "olive": "green",
            "aqua": "cyan",
            "teal": "cyan",
            "turquoise": "cyan",
            "azure": "blue",
            "cobalt": "blue",
            "sapphire": "blue",
            "violet": "purple",
            "lilac": "purple",
            "lavender": "purple",
            "plum": "purple",
            "magenta": "pink",
            "fuchsia": "pink",
            "rose": "pink",
            "ivory": "white",
            "snow": "white",
        },
    ),
    "shape": (
        "a red {}",
        {
            "ball": "circle",
            "disc": "circle",
            "sphere": "circle",
            "orb": "circle",
            "ring": "circle",
            "box": "square",
            "cube": "square",
            "tile": "square",
            "block": "square",
            "pyramid": "triangle",
            "wedge": "triangle",
            "asterisk": "star",
            "starburst": "star",
        },
    ),
    "size": (
        "a {} object",
        {
            "tiny": "small",
            "little": "small",
            "minuscule": "small",
            "mini": "small",
            "huge": "large",
            "big": "large",
            "enormous": "large",
            "giant": "large",
            "massive": "large",
        },
    ),
    "speed": (
        "an object moving {}",
        {
            "leisurely": "slowly",
            "sluggishly": "slowly",
            "unhurriedly": "slowly",
            "lazily": "slowly",
            "rapidly": "quickly",
            "hastily": "quickly",
            "briskly": "quickly",
            "speedily": "quickly",
        },
    ),
    "motion": (
        "an object moving {}",
        {
            "leftward": "left",
            "westward": "left",
            "west": "left",
            "rightward": "right",
            "eastward": "right",
            "east": "right",
            "upward": "up",
            "northward": "up",
            "north": "up",
            "downward": "down",
            "southward": "down",
            "south": "down",
        },
    ),
}
WORLD_WORDS = {
    "colour": list(OBJECT_COLOURS),
    "shape": list(SHAPES),
    "size": list(SIZES),
    "speed": ["slowly", "quickly"],
    "motion": ["left", "right", "up", "down"],
}


def pooled(encoder, texts: list[str], chunk: int = 64) -> Tensor:
    """Mean of each text's token states over its real tokens, L2-normalised: (N, dim)."""
    rows = []
    for start in range(0, len(texts), chunk):
        tokens, mask = encoder.encode(texts[start : start + chunk])
        weights = mask.float().unsqueeze(-1)
        rows.append(F.normalize((tokens * weights).sum(1) / weights.sum(1), dim=-1))
    return torch.cat(rows)


def world_captions(count: int, seed: int) -> tuple[list[str], list[dict[str, str]]]:
    world = get_preset("shapes-tiny").world  # one object a scene
    rng = random.Random(seed)
    captions, labels = [], []
    for _ in range(count):
        scene = sample_scene(rng, world)
        obj = scene.objects[0]
        captions.append(describe(scene, rng))
        speed = obj.speed if obj.motion not in ("static", "falling", "bouncing") else None
        labels.append(
            {"colour": obj.colour, "shape": obj.shape, "motion": obj.motion, "size": obj.size}
            | ({"speed": obj.speed} if speed else {})
        )
    return captions, labels


def fit_probe(features: Tensor, labels: list[str]) -> Callable[[Tensor], list[str]]:
    """Softmax regression on standardised features -> a predictor of class names."""
    classes = sorted(set(labels))
    target = torch.tensor([classes.index(label) for label in labels])
    mean, std = features.mean(0), features.std(0) + 1e-6
    weight = torch.zeros(features.shape[1], len(classes), requires_grad=True)
    bias = torch.zeros(len(classes), requires_grad=True)
    optimizer = torch.optim.Adam([weight, bias], lr=0.05)
    inputs = (features - mean) / std
    for _ in range(PROBE_STEPS):
        loss = F.cross_entropy(inputs @ weight + bias, target) + 1e-3 * weight.square().sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def predict(x: Tensor) -> list[str]:
        with torch.no_grad():
            return [classes[i] for i in (((x - mean) / std) @ weight + bias).argmax(1).tolist()]

    return predict


def neighbour_accuracy(encoder, attribute: str, in_phrase: bool) -> float:
    phrase, words = NEIGHBOURS[attribute]
    world = WORLD_WORDS[attribute]

    def form(word: str) -> str:
        return phrase.format(word) if in_phrase else word

    anchors = pooled(encoder, [form(w) for w in world])
    queries = pooled(encoder, [form(w) for w in words])
    nearest = (queries @ anchors.T).argmax(1).tolist()
    hits = [world[i] == meant for i, meant in zip(nearest, words.values(), strict=True)]
    return 100 * sum(hits) / len(hits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--captions", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    encoder = minilm_encoder(max_tokens=64)
    captions, labels = world_captions(args.captions, seed=11)
    fit = int(0.75 * len(captions))
    features = pooled(encoder, captions)
    paraphrases = paraphrase_prompts()
    para_features = pooled(encoder, [p.prompt for p in paraphrases])
    columns: dict[str, dict[str, float | int]] = {}
    for attribute in ATTRIBUTES:
        rows = [i for i, label in enumerate(labels[:fit]) if attribute in label]
        predict = fit_probe(features[rows], [labels[i][attribute] for i in rows])
        held = [i for i in range(fit, len(labels)) if attribute in labels[i]]
        held_hits = sum(
            p == labels[i][attribute] for p, i in zip(predict(features[held]), held, strict=True)
        )
        stated = [
            (i, getattr(p.spec.objects[0], attribute))
            for i, p in enumerate(paraphrases)
            if p.spec.objects and getattr(p.spec.objects[0], attribute) is not None
        ]
        guesses = predict(para_features[[i for i, _ in stated]])
        para_hits = sum(g == meant for g, (_, meant) in zip(guesses, stated, strict=True))
        column = {
            "probe: world captions held out (%)": 100 * held_hits / len(held),
            "probe: paraphrases (%)": 100 * para_hits / len(stated),
            "paraphrases stating it": len(stated),
        }
        if attribute in NEIGHBOURS:
            column["neighbour: bare word (%)"] = neighbour_accuracy(encoder, attribute, False)
            column["neighbour: in a phrase (%)"] = neighbour_accuracy(encoder, attribute, True)
            column["everyday words"] = len(NEIGHBOURS[attribute][1])
        columns[attribute] = column
    setup = {"encoder": "all-MiniLM-L6-v2", "world captions": args.captions, "fit on": fit}
    print_side_by_side(columns, setup, args.json)


if __name__ == "__main__":
    main()
