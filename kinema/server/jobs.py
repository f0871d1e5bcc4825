"""What a job asks the pipeline for: a JSON-stored spec, turned into a `GenerationRequest`.

Pixel inputs (an image, a clip to extend or edit, two clips to connect) are not in the
spec: they are arrays saved under server-chosen names next to the job (see `files.py`), and
the spec lists which ones the job has.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import numpy as np

from kinema.pipeline import GenerationRequest

# text: prompt only; image: animate a first frame (input_reference); loop: a seamless cycle;
# remix/edit: re-render a video under a new prompt; extend: continue a video; connect: a
# transition from one video into another.
MODES = ("text", "image", "loop", "remix", "edit", "extend", "connect")
INPUT_NAMES = ("image", "video", "first", "second")


@dataclass(frozen=True)
class JobSpec:
    mode: str
    prompt: str
    frames: int  # text/image/loop/connect: frames of the window; extend: frames added
    height: int
    width: int
    seed: int = 0
    steps: int | None = None
    guidance: float | None = None
    negative_prompt: str = ""
    strength: float | None = None  # remix/edit; None: the pipeline's default
    source_prompt: str = ""  # remix/edit of a video made here: the prompt that made it
    direction: str = "forward"  # extend
    inputs: tuple[str, ...] = ()  # which of INPUT_NAMES are saved for this job

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        data = json.loads(text)
        data["inputs"] = tuple(data.get("inputs", ()))
        return cls(**data)


def build_request(spec: JobSpec, inputs: dict[str, np.ndarray]) -> GenerationRequest:
    """The pipeline request for a job, with its saved input arrays."""
    options: dict[str, object] = {}
    if spec.mode == "image":
        options["image"] = inputs["image"][0]
    elif spec.mode == "loop":
        options["loop"] = True
        if "image" in inputs:
            options["image"] = inputs["image"][0]
    elif spec.mode in ("remix", "edit"):
        options["edit"] = inputs["video"]
        if spec.strength is not None:
            options["strength"] = spec.strength
        options["source_prompt"] = spec.source_prompt
    elif spec.mode == "extend":
        options["extend"] = inputs["video"]
        options["direction"] = spec.direction
    elif spec.mode == "connect":
        options["connect"] = (inputs["first"], inputs["second"])
    return GenerationRequest(
        prompt=spec.prompt,
        seed=spec.seed,
        steps=spec.steps,
        guidance=spec.guidance,
        frames=spec.frames,
        height=spec.height,
        width=spec.width,
        negative_prompt=spec.negative_prompt,
        **options,
    )
