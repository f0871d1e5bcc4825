"""`kinema data scan`: probe every file of a folder or index and write a complete index.

Unusable files (missing, empty, unreadable, too short) are left out of the index and listed
in a report; they never stop the scan. A folder's captions come from a `.txt` file beside
each clip (`clip.mp4` -> `clip.txt`), or are empty.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from tqdm import tqdm

from kinema.data.index import INDEX_SUFFIXES, Clip, is_media, read_index, relative_name, write_index
from kinema.data.media import MediaError, MediaInfo, probe
from kinema.data.workers import worker_pool
from kinema.errors import KinemaError


@dataclass(frozen=True)
class Skipped:
    path: str  # as the index names it
    reason: str  # missing, empty, unreadable, too short
    detail: str


@dataclass(frozen=True)
class ScanResult:
    clips: list[Clip]
    skipped: list[Skipped]

    def summary(self) -> str:
        images = sum(clip.is_image for clip in self.clips)
        return (
            f"{len(self.clips)} usable ({len(self.clips) - images} videos, {images} images), "
            f"{len(self.skipped)} skipped"
        )


def sidecar_caption(path: Path) -> str:
    caption = Path(path).with_suffix(".txt")
    return caption.read_text(encoding="utf-8").strip() if caption.is_file() else ""


def find_media(folder: Path) -> list[Clip]:
    """Every video and image under `folder` (sorted, recursive), captioned from sidecars."""
    folder = Path(folder)
    if not folder.is_dir():
        raise KinemaError(f"'{folder}' is not a folder")
    root = folder.resolve()
    paths = []
    for directory, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        paths += [Path(directory) / name for name in files if not name.startswith(".")]
    return [Clip(path, sidecar_caption(path)) for path in sorted(paths) if is_media(path)]


def _probe(path: Path) -> MediaInfo | tuple[str, str]:
    """Picklable outcome for worker processes: the info, or (reason, detail)."""
    try:
        return probe(path)
    except MediaError as error:
        return error.reason, error.detail


def probe_clips(
    clips: list[Clip],
    folder: Path,
    min_frames: int = 1,
    workers: int = 0,
    progress: bool = True,
) -> ScanResult:
    """Fill in every clip's metadata; the ones that cannot be used go to `skipped`."""
    paths = [clip.path for clip in clips]
    outcomes: Iterable[MediaInfo | tuple[str, str]]
    if workers > 0:
        pool = worker_pool(workers)
        outcomes = pool.map(_probe, paths, chunksize=8)
    else:
        pool, outcomes = None, map(_probe, paths)
    usable, skipped = [], []
    try:
        bar = tqdm(outcomes, total=len(clips), desc="scan", unit="file", disable=not progress)
        for clip, outcome in zip(clips, bar, strict=True):
            name = _display(clip.path, folder)
            if isinstance(outcome, tuple):
                skipped.append(Skipped(name, *outcome))
            elif outcome.num_frames < min_frames:
                detail = f"{outcome.num_frames} frames, fewer than {min_frames}"
                skipped.append(Skipped(name, "too short", detail))
            else:
                info = asdict(outcome)
                usable.append(replace(clip, **info))
    finally:
        if pool is not None:
            pool.shutdown()
    return ScanResult(usable, skipped)


def _display(path: Path, folder: Path) -> str:
    try:
        return relative_name(path, folder)
    except KinemaError:
        return str(path)


def default_output(source: Path) -> Path:
    source = Path(source)
    if source.is_dir():
        return source / "index.csv"
    return source.with_name(f"{source.stem}-scanned{source.suffix}")


def report_path(output: Path) -> Path:
    return Path(output).with_suffix(".report.json")


def scan(
    source: Path,
    output: Path | None = None,
    min_frames: int = 1,
    workers: int = 0,
    progress: bool = True,
) -> tuple[ScanResult, Path]:
    """Probe a folder or index; write the index of usable clips and a JSON report beside it."""
    source = Path(source)
    if min_frames < 1:
        raise KinemaError(f"--min-frames must be at least 1, got {min_frames}")
    output = Path(output) if output is not None else default_output(source)
    if output.suffix.lower() not in INDEX_SUFFIXES:
        raise KinemaError(f"the index must end in .csv or .jsonl, got '{output.name}'")
    if not output.parent.is_dir():
        raise KinemaError(f"output folder '{output.parent}' does not exist")
    if source.is_dir():
        clips, folder = find_media(source), source
    elif source.is_file():
        clips, folder = read_index(source), source.parent
    else:
        raise KinemaError(f"'{source}' is neither a folder nor a dataset index")
    for clip in clips:  # refuse before probing: the index could not name this file
        relative_name(clip.path, output.parent)
    result = probe_clips(clips, folder, min_frames, workers, progress)
    write_index(result.clips, output)
    report = {
        "source": str(source),
        "index": str(output),
        "usable": len(result.clips),
        "skipped": [asdict(item) for item in result.skipped],
    }
    report_path(output).write_text(json.dumps(report, indent=2) + "\n")
    return result, output
