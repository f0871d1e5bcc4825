"""Kinema's transformer against diffusers' Wan 2.1 transformer, same shapes, one run.

    pip install diffusers            # the reference implementation; not a Kinema dependency
    python benchmarks/dit_vs_diffusers.py [--hidden 384 --depth 6 --heads 6 --ffn 1536]
        [--latent 5 16 16] [--channels 16] [--text-tokens 64] [--batch 2]
        [--repeats 7] [--threads 2] [--device cpu|cuda] [--compile] [--json out.json]

Both models are built with random weights at the same width, depth, heads, feed-forward
size, patch size (1×2×2), latent shape, text length and text width, and are timed
alternately (one Kinema call, one diffusers call, …) so that a change in the machine's
speed hits both alike. Forward: inference (no_grad, eval). Train: forward + backward of a
mean-squared loss on the output (no optimiser step: its cost does not depend on the
implementation). Medians over --repeats after two warm-up calls. On CPU in float32; on
CUDA in bf16 autocast.

Differences that remain: Wan projects its text with a two-layer MLP and conditions on the
timestep with a shared modulation table per block; Kinema's adaLN-zero modulation comes from
the timestep embedding per block, and it adds a pooled-text embedding when configured (off
here). Neither model gets a text mask (Wan has none): every text token is real.

Prints one table (times in ms, the two implementations side by side, their ratios) and
writes JSON with `forward_ratio` and `train_ratio` (Kinema time / diffusers time).

--compile adds both models with every transformer block under `torch.compile` (inductor;
the warm-up calls compile), timed in the same alternation: four columns of times and the
ratios eager / eager, compiled / compiled and Kinema compiled / diffusers eager (JSON
`compiled_forward_ratio`, `compiled_train_ratio`, `compiled_vs_eager_forward_ratio`, …).
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from results_table import print_side_by_side  # benchmarks/, beside this script
from torch import Tensor, nn

from kinema.config import TransformerConfig
from kinema.dit import DiffusionTransformer


def build_models(args: argparse.Namespace) -> tuple[nn.Module, nn.Module]:
    from diffusers import WanTransformer3DModel

    torch.manual_seed(0)
    kinema = DiffusionTransformer(
        TransformerConfig(
            latent_channels=args.channels,
            patch_size=(1, 2, 2),
            hidden_size=args.hidden,
            depth=args.depth,
            num_heads=args.heads,
            mlp_ratio=args.ffn / args.hidden,
            context_dim=args.text_dim,
        )
    )
    # Kinema zero-initialises its output layers; give every weight a value so both models
    # do the same arithmetic on non-trivial numbers.
    with torch.no_grad():
        for parameter in kinema.parameters():
            if parameter.ndim >= 2 and not parameter.abs().sum():
                parameter.normal_(std=0.02)
    wan = WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=args.heads,
        attention_head_dim=args.hidden // args.heads,
        in_channels=args.channels,
        out_channels=args.channels,
        text_dim=args.text_dim,
        ffn_dim=args.ffn,
        num_layers=args.depth,
    )
    return kinema, wan


def compiled(model: nn.Module) -> nn.Module:
    """A copy of the model with each of its transformer blocks compiled."""
    model = copy.deepcopy(model)
    for block in model.blocks:
        block.compile()
    return model


def timed(fn: Callable[[], None], synchronize: Callable[[], None]) -> float:
    synchronize()
    start = time.perf_counter()
    fn()
    synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, default=384)
    parser.add_argument("--depth", type=int, default=6)
    parser.add_argument("--heads", type=int, default=6)
    parser.add_argument("--ffn", type=int, default=1536)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--latent", type=int, nargs=3, default=(5, 16, 16), help="t h w")
    parser.add_argument("--text-tokens", type=int, default=64)
    parser.add_argument("--text-dim", type=int, default=384)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compile", action="store_true", help="also time compiled blocks")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cuda = device.type == "cuda"

    kinema, wan = (model.to(device) for model in build_models(args))
    models = {"kinema": kinema, "diffusers": wan}
    if args.compile:
        models.update({"kinema compiled": compiled(kinema), "diffusers compiled": compiled(wan)})
    t, h, w = args.latent
    x = torch.randn(args.batch, args.channels, t, h, w, device=device)
    text = torch.randn(args.batch, args.text_tokens, args.text_dim, device=device)
    times = torch.rand(args.batch, device=device)

    def call(name: str) -> Callable[[], Tensor]:
        model = models[name]
        if name.startswith("kinema"):
            return lambda: model(x, times, text)
        return lambda: model(x, times * 1000, text, return_dict=False)[0]  # Wan: t on 0…1000

    def synchronize() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    def autocast():
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda)

    def forward(call: Callable[[], Tensor]) -> Callable[[], None]:
        def run() -> None:
            with torch.no_grad(), autocast():
                call()

        return run

    def train(model: nn.Module, call: Callable[[], Tensor]) -> Callable[[], None]:
        def run() -> None:
            model.zero_grad(set_to_none=True)
            with autocast():
                loss = (call().float() - x).pow(2).mean()
            loss.backward()

        return run

    cases = {
        "forward": {name: forward(call(name)) for name in models},
        "train": {name: train(models[name], call(name)) for name in models},
    }
    ratios = {"ratio": ("kinema", "diffusers")}
    if args.compile:
        ratios["compiled ratio"] = ("kinema compiled", "diffusers compiled")
        ratios["kinema compiled / diffusers"] = ("kinema compiled", "diffusers")
    columns: dict[str, dict[str, float]] = {name: {} for name in [*models, *ratios]}
    for case, runs in cases.items():
        for model in models.values():
            model.train(case == "train")
        samples: dict[str, list[float]] = {name: [] for name in runs}
        for repeat in range(args.repeats + 2):
            for name, run in runs.items():  # alternate, so both see the same machine
                seconds = timed(run, synchronize)
                if repeat >= 2:  # two warm-up calls each
                    samples[name].append(seconds)
        for name in runs:
            columns[name][f"{case} (ms)"] = 1000 * statistics.median(samples[name])
        for ratio, (mine, theirs) in ratios.items():
            columns[ratio][f"{case} (ms)"] = (
                columns[mine][f"{case} (ms)"] / columns[theirs][f"{case} (ms)"]
            )
    for name, model in (("kinema", kinema), ("diffusers", wan)):
        columns[name]["parameters (M)"] = sum(p.numel() for p in model.parameters()) / 1e6
    tokens = t * h * w // 4
    setup = {
        "device": torch.cuda.get_device_name(device) if cuda else f"cpu, {args.threads} threads",
        "dtype": "bf16 autocast" if cuda else "float32",
        "hidden": args.hidden,
        "depth": args.depth,
        "heads": args.heads,
        "ffn": args.ffn,
        "latent": f"{args.channels}x{t}x{h}x{w}",
        "tokens": tokens,
        "text": f"{args.text_tokens}x{args.text_dim}",
        "batch": args.batch,
        "forward_ratio": round(columns["ratio"]["forward (ms)"], 3),
        "train_ratio": round(columns["ratio"]["train (ms)"], 3),
    }
    if args.compile:
        for case in ("forward", "train"):
            setup[f"compiled_{case}_ratio"] = round(columns["compiled ratio"][f"{case} (ms)"], 3)
            setup[f"compiled_vs_eager_{case}_ratio"] = round(
                columns["kinema compiled / diffusers"][f"{case} (ms)"], 3
            )
    assert all(math.isfinite(v) for k, v in setup.items() if k.endswith("_ratio"))
    print_side_by_side(columns, setup, args.json)


if __name__ == "__main__":
    main()
