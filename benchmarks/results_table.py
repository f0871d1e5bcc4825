"""Shared output of the benchmark scripts: a two-column table, and JSON on request."""

import json
from pathlib import Path
from typing import Any


def print_results(results: dict[str, Any], json_path: Path | None) -> None:
    width = max(len(key) for key in results)
    print(f"{'measure':{width}s}  value")
    for key, value in results.items():
        shown = f"{value:.2f}" if isinstance(value, float) else str(value)
        print(f"{key:{width}s}  {shown}")
    if json_path:
        json_path.write_text(json.dumps(results, indent=2) + "\n")
