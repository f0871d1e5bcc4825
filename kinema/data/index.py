"""Dataset descriptions: a CSV with Open-Sora's columns, or JSONL, listing captioned clips.

Columns: `path,text` are required; `num_frames,height,width,fps,duration` are optional and
filled in by `kinema data scan`. Paths are relative to the file's folder and may not leave
it: a description never reaches files outside the dataset it describes.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kinema.errors import KinemaError

COLUMNS = ("path", "text", "num_frames", "height", "width", "fps", "duration")
REQUIRED = ("path", "text")
INDEX_SUFFIXES = (".csv", ".jsonl")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".gif")


@dataclass(frozen=True)
class Clip:
    """One captioned video (or image) file; zeros mean "not probed yet"."""

    path: Path  # absolute, inside the dataset folder
    text: str
    num_frames: int = 0
    height: int = 0
    width: int = 0
    fps: float = 0.0

    @property
    def is_image(self) -> bool:
        return self.path.suffix.lower() in IMAGE_SUFFIXES

    @property
    def probed(self) -> bool:
        sized = self.num_frames > 0 and self.height > 0 and self.width > 0
        return sized and (self.is_image or self.fps > 0)

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps if self.fps > 0 else 0.0


def is_media(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES


def resolve_inside(folder: Path, name: str) -> Path:
    """`name` (relative to `folder`, or absolute) as an absolute path that stays inside it."""
    root = Path(folder).resolve()
    path = (root / name).resolve()  # an absolute `name` replaces `root` here
    if not path.is_relative_to(root):
        raise KinemaError(f"path '{name}' leaves the dataset folder '{root}'; it must stay inside")
    return path


def relative_name(path: Path, folder: Path) -> str:
    """How an index in `folder` names `path`."""
    root = Path(folder).resolve()
    if not Path(path).resolve().is_relative_to(root):
        raise KinemaError(
            f"'{path}' is outside '{root}': an index must sit in its dataset's folder or above it"
        )
    return Path(path).resolve().relative_to(root).as_posix()


def _number(kind: type, value: Any, column: str, where: str) -> Any:
    if value is None or value == "":
        return kind(0)
    try:
        return kind(float(value)) if kind is int else kind(value)
    except (TypeError, ValueError):
        raise KinemaError(f"{where}: column '{column}' must be a number, got {value!r}") from None


def _rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, row) pairs of a CSV or JSONL file."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
            if missing:
                raise KinemaError(f"'{path}' has no column {', '.join(missing)}")
            for number, row in enumerate(reader, start=2):
                yield f"{path}:{number}", row
        return
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise KinemaError(f"{path}:{number}: not a JSON object ({error.msg})") from None
        if not isinstance(row, dict):
            raise KinemaError(f"{path}:{number}: each line must be a JSON object")
        yield f"{path}:{number}", row


def read_index(path: Path) -> list[Clip]:
    """The clips an index lists, with their paths checked to stay in its folder."""
    path = Path(path)
    if path.suffix.lower() not in INDEX_SUFFIXES:
        raise KinemaError(f"a dataset index must be .csv or .jsonl, got '{path.name}'")
    if not path.is_file():
        raise KinemaError(f"dataset index '{path}' does not exist")
    clips = []
    for where, row in _rows(path):
        name, text = row.get("path"), row.get("text")
        if not name or not isinstance(name, str):
            raise KinemaError(f"{where}: the 'path' column is empty")
        if text is None or not isinstance(text, str):
            raise KinemaError(f"{where}: the 'text' column must be a string")
        try:
            resolved = resolve_inside(path.parent, name)
        except KinemaError as error:
            raise KinemaError(f"{where}: {error}") from None
        clips.append(
            Clip(
                path=resolved,
                text=text,
                num_frames=_number(int, row.get("num_frames"), "num_frames", where),
                height=_number(int, row.get("height"), "height", where),
                width=_number(int, row.get("width"), "width", where),
                fps=_number(float, row.get("fps"), "fps", where),
            )
        )
    return clips


def _record(clip: Clip, folder: Path) -> dict[str, Any]:
    return {
        "path": relative_name(clip.path, folder),
        "text": clip.text,
        "num_frames": clip.num_frames,
        "height": clip.height,
        "width": clip.width,
        "fps": round(clip.fps, 6) if clip.fps else "",
        "duration": round(clip.duration, 6) if clip.fps else "",
    }


def write_index(clips: list[Clip], path: Path) -> None:
    """Write an index (CSV or JSONL by suffix) naming every clip relative to its folder."""
    path = Path(path)
    if path.suffix.lower() not in INDEX_SUFFIXES:
        raise KinemaError(f"a dataset index must be .csv or .jsonl, got '{path.name}'")
    records = [_record(clip, path.parent) for clip in clips]
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        if path.suffix.lower() == ".csv":
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(records)
        else:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    temporary.replace(path)
