"""started_from.json: what a run seeded with `--init` or `--autoencoder` started from.

A warm-started model's own train_config.json tells only its last phase; this record names
the source, the SHA-256 of each weight file taken from it and the source's own record, so a
model trained in phases carries its whole recipe. `kinema export` copies it along.
"""

from __future__ import annotations

import json
from pathlib import Path

from kinema.checkpoint import WEIGHT_FILES, resolve_checkpoint
from kinema.hashing import sha256_of

STARTED_FROM_FILE = "started_from.json"


def run_file(checkpoint: Path, name: str) -> Path | None:
    """A run-level file of a checkpoint: in the folder itself (an exported model, a run) or
    in the run above RUN/transformer/step-N; None when there is none."""
    folder = resolve_checkpoint(Path(checkpoint))
    for candidate in (Path(checkpoint) / name, folder / name, folder.parent.parent / name):
        if candidate.is_file():
            return candidate
    return None


def started_from(checkpoint: Path) -> dict | None:
    """The record of what the checkpoint's run started from, if it was seeded."""
    path = run_file(checkpoint, STARTED_FROM_FILE)
    return json.loads(path.read_text()) if path is not None else None


def record_start(run: Path, how: str, source: Path, modules: list[str]) -> None:
    """Write RUN/started_from.json for a run seeded from `source`'s `modules`."""
    folder = resolve_checkpoint(Path(source))
    record = {
        "how": how,
        "source": str(folder),
        "sha256": {WEIGHT_FILES[name]: sha256_of(folder / WEIGHT_FILES[name]) for name in modules},
    }
    earlier = started_from(folder)
    if earlier is not None:
        record["source_started_from"] = earlier
    (Path(run) / STARTED_FROM_FILE).write_text(json.dumps(record, indent=2) + "\n")
