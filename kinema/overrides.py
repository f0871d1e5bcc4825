"""`--set KEY=VALUE`: change single fields of a config, by dotted path, with type checks."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from kinema.config import from_dict, to_dict
from kinema.errors import KinemaError

T = TypeVar("T")


def _parse(raw: str, current: Any, key: str) -> Any:
    """`raw` as the type of the field's current value; a clear error otherwise."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw  # a bare word: a string
    if isinstance(current, str):
        return raw
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
        raise KinemaError(f"--set {key}: expected true or false, got '{raw}'")
    if isinstance(current, int) and not isinstance(value, bool):
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            return int(value)
        raise KinemaError(f"--set {key}: expected a whole number, got '{raw}'")
    if isinstance(current, float) and not isinstance(value, bool):
        if isinstance(value, int | float):
            return float(value)
        raise KinemaError(f"--set {key}: expected a number, got '{raw}'")
    if isinstance(current, list | dict) and isinstance(value, type(current)):
        return value
    if current is None:
        return value
    raise KinemaError(f"--set {key}: expected {type(current).__name__} as JSON, got '{raw}'")


def with_overrides(config: T, assignments: list[str]) -> T:
    """A copy of `config` with each "dotted.key=value" applied, checked like a loaded file.

    >>> with_overrides(cfg, ["transformer_stage.steps=30000", "transformer_stage.lr=4e-4"])
    """
    data = to_dict(config)
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        key = key.strip()
        if not sep or not key:
            raise KinemaError(f"--set '{assignment}': expected KEY=VALUE, e.g. seed=1")
        *parents, leaf = key.split(".")
        node = data
        for depth, part in enumerate([*parents, leaf]):
            if not isinstance(node, dict) or part not in node:
                where = ".".join(parents[:depth]) or "the run config"
                known = ", ".join(sorted(node)) if isinstance(node, dict) else "no fields"
                raise KinemaError(f"--set {key}: {where} has no '{part}' (it has: {known})")
            if depth < len(parents):
                node = node[part]
        node[leaf] = _parse(raw.strip(), node[leaf], key)
    try:
        return from_dict(type(config), data)
    except (TypeError, ValueError) as error:
        raise KinemaError(f"--set: {error}") from error
