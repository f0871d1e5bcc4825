"""Shared output of the benchmark scripts: a two-column table, and JSON on request."""

import json
from pathlib import Path
from typing import Any


def print_results(results: dict[str, Any], json_path: Path | None) -> None:
    width = max(len(key) for key in results)
    print(f"{'measure':{width}s}  value")
    for key, value in results.items():
        print(f"{key:{width}s}  {_shown(value)}")
    if json_path:
        json_path.write_text(json.dumps(results, indent=2) + "\n")


def _shown(value: Any) -> str:
    """Floats to 2 decimals; below 0.1, to 2 significant digits, so small values stay visible."""
    if not isinstance(value, float):
        return str(value)
    return f"{value:.2f}" if value == 0 or abs(value) >= 0.1 else f"{value:.2g}"


def print_side_by_side(
    columns: dict[str, dict[str, Any]], setup: dict[str, Any], json_path: Path | None
) -> None:
    """One column per case (case -> measure -> value) under a line of setup; JSON on request."""
    print(", ".join(f"{key}: {value}" for key, value in setup.items()))
    measures = list(dict.fromkeys(key for column in columns.values() for key in column))
    rows = [["measure", *columns]]
    rows += [[m, *(_shown(c.get(m, "")) for c in columns.values())] for m in measures]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [cell.rjust(width) for cell, width in zip(row, widths, strict=True)]
        print("  ".join([row[0].ljust(widths[0]), *cells[1:]]))
    if json_path:
        json_path.write_text(json.dumps({"setup": setup, **columns}, indent=2) + "\n")
