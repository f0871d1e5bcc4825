"""Training throughput and model FLOPs utilisation (MFU) of the diffusion transformer.

    torchrun --standalone --nproc_per_node=1 benchmarks/mfu.py [--preset base-256] [--hidden …]

Runs Kinema's own multi-rank training path (`kinema.distributed.parallelize`: FSDP2, bf16
mixed precision, optional activation checkpointing and torch.compile) on random latents and
text states, so the number measures the transformer step itself, not data or the frozen
autoencoder. Default: the `base-256` preset's 376M-parameter DiT (hidden 1024, depth 16, 16
heads) on the latent of its 256×256, 17-frame clip (×8 spatial, ×4 temporal compression:
16×5×32×32 latent, patches 1×2×2 -> 1280 tokens) with 48 text tokens of width 384 (the
preset's MiniLM), batch 8 per rank. --hidden/--depth/--heads/--latent override the preset.

FLOPs counted per step (forward + backward = 3 × forward, matmuls only), each weight by
how often it acts:
    6 · N_video · B · tokens             weights applied to every video token (patch
                                         embedding, QKV, attention and cross-attention
                                         queries and outputs, MLP, output layer)
  + 6 · N_text · B · text                weights applied to every text token (context
                                         embedding, cross-attention keys and values)
  + 6 · N_sample · B                     weights applied once per sample (timestep and
                                         pooled-text embeddings, adaLN modulations)
  + 12 · depth · B · tokens² · hidden    self-attention scores and weighted sum
  + 12 · depth · B · tokens · text · hidden   cross-attention to the text tokens
MFU = counted FLOPs per second / a peak: `train_mfu` and `generate_mfu` against the matmul
peak measured in the same run (the fastest of ten large square GEMMs in the compute dtype,
8192 on GPU and 2048 on CPU, timed before and after the steps), and, on GPU,
`train_mfu_spec` against the data-sheet dense bf16 peak (--peak-tflops;
989 for an H100 or H200 SXM). Generation is one sampling step: a forward pass (a third of the
counted training FLOPs) on the batch of 2 that batched classifier-free guidance runs.
Recomputation under activation checkpointing is not counted: MFU counts the model's FLOPs,
not the hardware's.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import replace
from pathlib import Path

import torch
from results_table import print_results  # benchmarks/, beside this script
from torch import nn

from kinema.config import ParallelConfig, TransformerConfig
from kinema.distributed.mesh import build_layout
from kinema.distributed.parallelize import compute_dtype, parallelize
from kinema.distributed.runtime import start
from kinema.dit import DiffusionTransformer
from kinema.flow import flow_matching_loss
from kinema.presets import get_preset

# Weights that act on text tokens or once per sample; every other weight acts per video token.
TEXT_WEIGHTS = ("context_embedder.", "cross_attn.kv.")
SAMPLE_WEIGHTS = ("t_embedder.", "pooled_embedder.", "modulation.")


def weight_groups(model: nn.Module) -> dict[str, int]:
    """Parameter counts of the matmul weights by what they act on: video, text, sample."""
    groups = {"video": 0, "text": 0, "sample": 0}
    for name, parameter in model.named_parameters():
        if parameter.ndim < 2:  # biases and norm scales: not matmul FLOPs
            continue
        if any(part in name for part in TEXT_WEIGHTS):
            groups["text"] += parameter.numel()
        elif any(part in name for part in SAMPLE_WEIGHTS):
            groups["sample"] += parameter.numel()
        else:
            groups["video"] += parameter.numel()
    return groups


def counted_flops(
    cfg: TransformerConfig, groups: dict[str, int], batch: int, tokens: int, text: int
) -> int:
    dense = 6 * batch * (groups["video"] * tokens + groups["text"] * text + groups["sample"])
    self_attention = 12 * cfg.depth * batch * tokens**2 * cfg.hidden_size
    cross_attention = 12 * cfg.depth * batch * tokens * text * cfg.hidden_size
    return dense + self_attention + cross_attention


def gemm_peak_tflops(device: torch.device, dtype: torch.dtype, repeats: int = 10) -> float:
    """The machine's matmul rate on one large square GEMM, in TFLOP/s: the fastest of
    `repeats` timed products, so a slow moment of a shared machine does not lower the peak
    (and raise the MFU)."""
    n = 8192 if device.type == "cuda" else 2048
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    fastest = math.inf
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        a @ b
        synchronize(device)
        fastest = min(fastest, time.perf_counter() - start)
    return 2 * n**3 / fastest / 1e12


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def preset_shapes(args: argparse.Namespace) -> tuple[TransformerConfig, tuple[int, ...], int]:
    """The preset's transformer, the latent of its clip (t, h, w) and its text length, with
    the command line's overrides."""
    model = get_preset(args.preset).model
    cfg = model.transformer
    overrides = {"hidden_size": args.hidden, "depth": args.depth, "num_heads": args.heads}
    cfg = replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
    s, temporal = model.autoencoder.spatial_compression, model.autoencoder.temporal_compression
    latent = args.latent or (
        1 + (model.frames - 1) // temporal,
        model.height // s,
        model.width // s,
    )
    return cfg, tuple(latent), args.text_tokens or model.text.max_tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="base-256")
    parser.add_argument("--hidden", type=int, default=None)
    parser.add_argument("--depth", type=int, default=None)
    parser.add_argument("--heads", type=int, default=None)
    parser.add_argument("--latent", type=int, nargs=3, default=None, help="t h w")
    parser.add_argument("--text-tokens", type=int, default=None)
    parser.add_argument("--batch", type=int, default=8, help="samples per rank")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"))
    parser.add_argument("--activation-checkpointing", action="store_true")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="per GPU, dense")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: best)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    runtime = start(args.device)
    parallel = ParallelConfig(
        precision=args.precision,
        activation_checkpointing=args.activation_checkpointing,
        compile=args.compile,
    )
    layout = build_layout(runtime.device.type, runtime.world_size, parallel, 1)
    cfg, latent, text_tokens = preset_shapes(args)
    torch.manual_seed(0)
    model = DiffusionTransformer(cfg).to(runtime.device)
    parameters = model.num_parameters()
    groups = weight_groups(model)  # before sharding: whole parameter shapes
    parallelize(model, layout.weight_mesh, parallel)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.99))

    t, h, w = latent
    tokens = t * h * w // math.prod(cfg.patch_size)
    device = runtime.device
    x0 = torch.randn(args.batch, cfg.latent_channels, t, h, w, device=device)
    context = torch.randn(args.batch, text_tokens, cfg.context_dim, device=device)
    mask = torch.ones(args.batch, text_tokens, dtype=torch.bool, device=device)

    def step() -> None:
        noise = torch.randn_like(x0)
        times = torch.rand(args.batch, device=device)
        loss = flow_matching_loss(lambda x, tt: model(x, tt, context, mask), x0, noise, times)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    def timed(fn, count: int) -> float:
        for _ in range(args.warmup):
            fn()
        synchronize(device)
        begin = time.perf_counter()
        for _ in range(count):
            fn()
        synchronize(device)
        return (time.perf_counter() - begin) / count

    peak_before = gemm_peak_tflops(device, compute_dtype(parallel, device.type))
    seconds = timed(step, args.steps)
    guided = 2  # batched classifier-free guidance: the prompt and the empty prompt

    @torch.no_grad()
    def sampling_step() -> None:
        dtype = compute_dtype(parallel, device.type)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            model(x0[:guided], torch.rand(guided, device=device), context[:guided], mask[:guided])

    model.eval()
    generate_seconds = timed(sampling_step, args.steps)
    model.train()
    # The best of a measurement before the timed steps and one after them.
    peak = max(peak_before, gemm_peak_tflops(device, compute_dtype(parallel, device.type)))

    flops = counted_flops(cfg, groups, args.batch, tokens, text_tokens)
    achieved = flops / seconds / 1e12
    generate_flops = counted_flops(cfg, groups, guided, tokens, text_tokens) / 3
    generate_achieved = generate_flops / generate_seconds / 1e12
    if runtime.is_main:
        results = {
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "ranks": runtime.world_size,
            "preset": args.preset,
            "parameters (M)": parameters / 1e6,
            "per-token weights (M)": groups["video"] / 1e6,
            "tokens per sample": tokens,
            "batch per rank": args.batch,
            "step (ms)": seconds * 1000,
            "samples/s per rank": args.batch / seconds,
            "tokens/s per rank": args.batch * tokens / seconds,
            "counted GFLOP per step": flops / 1e9,
            "achieved GFLOP/s per rank": achieved * 1e3,
            "measured GEMM peak GFLOP/s": peak * 1e3,
            "train_mfu (%)": 100 * achieved / peak,
            "sampling step (ms)": generate_seconds * 1000,
            "generate GFLOP/s": generate_achieved * 1e3,
            "generate_mfu (%)": 100 * generate_achieved / peak,
            "train_mfu_spec (%)": 100 * achieved / args.peak_tflops
            if device.type == "cuda"
            else 0.0,
            "peak memory (GiB)": torch.cuda.max_memory_allocated(device) / 2**30
            if device.type == "cuda"
            else 0.0,
        }
        print_results(results, args.json)


if __name__ == "__main__":
    main()
