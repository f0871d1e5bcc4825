"""Worker processes for decoding and probing, started clean from a fork server."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor


def worker_pool(workers: int) -> ProcessPoolExecutor:
    # A fork server, not fork: workers get no copy of the trainer's threads or model, and
    # start with the decoding code already imported.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["kinema.data.clips"])
    return ProcessPoolExecutor(workers, mp_context=context)
