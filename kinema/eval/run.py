"""The evaluation loop: generate a video per evaluation prompt, analyse it, judge it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from kinema.config import TrainConfig, WorldConfig, load_json
from kinema.errors import KinemaError
from kinema.eval.analyzer import SceneAnalysis, analyze_video
from kinema.eval.metrics import Summary, VideoResult, check_video, diversity, summarize
from kinema.eval.parser import parse_prompt
from kinema.eval.prompts import (
    ATTRIBUTE_CHOICES,
    DIVERSITY_PROMPTS,
    SPLITS,
    EvalPrompt,
    evaluation_prompts,
)

RUN_CONFIG_FILE = "train_config.json"
DIVERSITY_SEED_OFFSET = 1_000_000  # diversity videos use seeds apart from the main set's


@dataclass(frozen=True)
class EvalSettings:
    prompts: int = 32
    seed: int = 0
    split: str = "train"
    steps: int | None = None  # sampling steps; None: the model's default
    guidance: float | None = None
    step_cache: float = 0.0  # the generation's step cache threshold (0: off)
    factorized: bool | None = None  # two-pass text-to-video; None: the model's default
    diversity_seeds: int = 4  # videos per diversity prompt; below 2 skips diversity
    max_objects: int | None = None  # objects per evaluation scene; None: the training run's

    def __post_init__(self) -> None:
        if self.prompts < 1:
            raise KinemaError(f"--prompts must be at least 1, got {self.prompts}")
        if self.split not in SPLITS:
            raise KinemaError(f"unknown split {self.split!r}; choose one of {', '.join(SPLITS)}")
        if self.seed < 0:
            raise KinemaError(f"--seed must be >= 0, got {self.seed}")
        if self.diversity_seeds < 0:
            raise KinemaError(f"diversity seeds must be >= 0, got {self.diversity_seeds}")
        if self.max_objects is not None and not 1 <= self.max_objects <= 3:
            raise KinemaError(f"objects per scene must be 1 to 3, got {self.max_objects}")


@dataclass(frozen=True, eq=False)
class EvalItem:
    """One generated video with its prompt, generation seed, analysis and verdict."""

    prompt: EvalPrompt
    seed: int
    video: np.ndarray = field(repr=False)  # (T, H, W, 3) uint8
    analysis: SceneAnalysis
    result: VideoResult


@dataclass(frozen=True, eq=False)
class EvalRun:
    settings: EvalSettings
    source: str  # what was evaluated, e.g. the checkpoint folder
    world: WorldConfig
    items: tuple[EvalItem, ...]
    summary: Summary
    diversity: dict[str, dict[str, float]]  # prompt -> free attribute -> score
    seconds: float

    @property
    def diversity_score(self) -> float | None:
        scores = [s for per_prompt in self.diversity.values() for s in per_prompt.values()]
        return sum(scores) / len(scores) if scores else None


def judge_videos(
    videos: Sequence[np.ndarray], prompts: Sequence[str], fps: float, object_scale: float = 1.0
) -> tuple[list[VideoResult], Summary]:
    """Analyse and judge ready-made videos against their prompts (no model involved)."""
    results = [
        check_video(prompt, parse_prompt(prompt), analyze_video(video, fps, object_scale))
        for video, prompt in zip(videos, prompts, strict=True)
    ]
    return results, summarize(results)


def run_world(checkpoint: Path) -> TrainConfig | None:
    """The training config of the run a checkpoint belongs to, when it can be found."""
    from kinema.provenance import run_file

    path = run_file(checkpoint, RUN_CONFIG_FILE)
    return load_json(TrainConfig, path) if path is not None else None


def evaluate_model(
    model,
    settings: EvalSettings,
    source: str = "model",
    max_objects: int = 1,
    progress: bool = True,
    object_scale: float = 1.0,
) -> EvalRun:
    """Generate and judge the evaluation set (and the diversity prompts) with `model`, in a
    world of `max_objects` objects per scene drawn `object_scale` times the base sizes (the
    training run's)."""
    from kinema.pipeline import GenerationRequest, generate

    start = time.perf_counter()
    cfg = model.config
    world = WorldConfig(
        height=cfg.height,
        width=cfg.width,
        frames=cfg.frames,
        fps=cfg.fps,
        max_objects=settings.max_objects or max_objects,
        object_scale=object_scale,
    )
    prompts = evaluation_prompts(settings.prompts, settings.split, settings.seed, world)
    jobs: list[tuple[str, int, EvalPrompt | None]] = [
        (p.prompt, settings.seed * 100_000 + p.index, p) for p in prompts
    ]
    if settings.diversity_seeds >= 2:
        jobs += [
            (text, DIVERSITY_SEED_OFFSET + settings.seed * 100_000 + k, None)
            for text in DIVERSITY_PROMPTS
            for k in range(settings.diversity_seeds)
        ]
    items: list[EvalItem] = []
    by_prompt: dict[str, list[SceneAnalysis]] = {}
    for text, seed, prompt in tqdm(jobs, desc="evaluating", unit="video", disable=not progress):
        request = GenerationRequest(
            prompt=text,
            seed=seed,
            steps=settings.steps,
            guidance=settings.guidance,
            step_cache=settings.step_cache,
            factorized=settings.factorized,
        )
        video = generate(model, request)
        analysis = analyze_video(video, cfg.fps, object_scale)
        if prompt is None:
            by_prompt.setdefault(text, []).append(analysis)
            continue
        result = check_video(text, prompt.spec, analysis)
        items.append(EvalItem(prompt, seed, video, analysis, result))
    scores = {
        text: diversity(parse_prompt(text), analyses, ATTRIBUTE_CHOICES)
        for text, analyses in by_prompt.items()
    }
    return EvalRun(
        settings=settings,
        source=source,
        world=world,
        items=tuple(items),
        summary=summarize([item.result for item in items]),
        diversity=scores,
        seconds=time.perf_counter() - start,
    )


def evaluate_checkpoint(
    checkpoint: Path,
    out: Path,
    settings: EvalSettings,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> EvalRun:
    """`kinema eval`: load a checkpoint (or a run's latest), evaluate, write the report."""
    from kinema.checkpoint import resolve_checkpoint
    from kinema.eval.report import write_report
    from kinema.model import load_model

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise KinemaError(f"--out '{out}' is a file, not a folder")
    folder = resolve_checkpoint(Path(checkpoint))
    run_cfg = run_world(Path(checkpoint))
    model = load_model(folder, device)
    world = run_cfg.world if run_cfg is not None else WorldConfig(max_objects=1)
    run = evaluate_model(
        model, settings, str(folder), world.max_objects, progress, world.object_scale
    )
    write_report(run, out)
    return run
