"""The evaluator: reads a scene off video frames and judges it against a prompt.

    analyzer  frames -> background, objects (colour, shape, size), tracks, motion
    parser    prompt -> the constraints it states (unstated attributes are free)
    metrics   per-video checks, aggregation with Wilson intervals, diversity
    prompts   the fixed, seeded evaluation prompt sets per split
    run       the evaluation loop over a model; report writes its files

Names are loaded on first use, so `kinema` starts without importing numpy or PyAV.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AnalyzedObject": "analyzer",
    "SceneAnalysis": "analyzer",
    "analyze_file": "analyzer",
    "analyze_video": "analyzer",
    "Degradation": "degrade",
    "degrade": "degrade",
    "Rate": "metrics",
    "Summary": "metrics",
    "VideoResult": "metrics",
    "check_attributes": "metrics",
    "check_video": "metrics",
    "summarize": "metrics",
    "wilson_interval": "metrics",
    "ObjectSpec": "parser",
    "PromptSpec": "parser",
    "parse_prompt": "parser",
    "scene_spec": "parser",
    "EvalPrompt": "prompts",
    "evaluation_prompts": "prompts",
    "EvalRun": "run",
    "EvalSettings": "run",
    "evaluate_checkpoint": "run",
    "evaluate_model": "run",
    "judge_videos": "run",
    "write_report": "report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'kinema.eval' has no attribute {name!r}")
    return getattr(importlib.import_module(f"kinema.eval.{_EXPORTS[name]}"), name)
