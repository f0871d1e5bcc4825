"""Shared by the memory benchmarks: one measured case per process, and its measurement."""

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from kinema.memory import peak_rss_bytes, reset_peak_rss

# glibc serves large blocks from the heap once its mmap threshold has adapted upwards, and
# freed heap memory stays resident: a fixed threshold makes every tensor its own mapping,
# so resident memory follows live tensors and each case's peak is its own.
CHILD_ENV = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}


def run_case(script: str, arguments: list[str]) -> dict[str, Any]:
    """Run `script arguments` in a fresh process; its last stdout line is JSON."""
    child = [sys.executable, script, *arguments]
    done = subprocess.run(child, capture_output=True, text=True, env=CHILD_ENV, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def peak_then_time(call: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, peak MiB of a first call above the resident memory before it, seconds of a
    second call: set-up excluded)."""
    reset_peak_rss()
    before = peak_rss_bytes()
    result = call()
    peak = (peak_rss_bytes() - before) / 2**20
    start = time.perf_counter()
    call()
    return result, peak, time.perf_counter() - start
