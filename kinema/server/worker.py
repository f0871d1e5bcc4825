"""One worker thread that runs queued jobs, oldest first, on the model's device.

It reports progress after every sampling step, stops a job within one step when the job is
deleted (cancel) or the server shuts down (the job goes back to the queue), and writes a
finished video's files before marking it completed.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable

from kinema.errors import KinemaError
from kinema.model import KinemaModel
from kinema.pipeline import generate
from kinema.server import media
from kinema.server.files import VideoFiles
from kinema.server.geometry import format_seconds
from kinema.server.jobs import build_request
from kinema.server.store import Job, JobStore

log = logging.getLogger("kinema.server")

SAMPLING_SHARE = 95  # percent of progress for sampling; the rest is decoding and encoding


class _Stop(Exception):
    """Raised from the progress callback to abandon the running job."""


class Worker:
    def __init__(self, store: JobStore, files: VideoFiles, model: KinemaModel) -> None:
        self.store = store
        self.files = files
        self.model = model
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._running: str | None = None
        self._cancelled: set[str] = set()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="kinema-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the current sampling step; the running job is queued again."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        """A job was queued."""
        self._wake.set()

    def cancel(self, video_id: str) -> None:
        """Abandon `video_id` if it is running (its row is already deleted)."""
        with self._lock:
            if self._running == video_id:
                self._cancelled.add(video_id)

    @property
    def running(self) -> str | None:
        return self._running

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                job = self.store.claim_next()
            except Exception:
                log.exception("cannot read the job queue; trying again")
                job = None
                self._stopping.wait(1.0)
            if job is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            with self._lock:
                self._running = job.id
            try:
                self._run(job)
            except Exception:
                log.exception("job %s failed unexpectedly", job.id)
                self._fail_quietly(job.id)
            finally:
                with self._lock:
                    self._running = None
                    self._cancelled.discard(job.id)

    def _fail_quietly(self, video_id: str) -> None:
        try:
            self.store.fail(video_id, "server_error", "internal error; see the server log")
        except Exception:  # the store itself is failing; recover() settles it on restart
            log.exception("cannot mark job %s failed", video_id)

    def _progress(self, job: Job) -> Callable[[int, int], None]:
        last = [-1]

        def report(step: int, total: int) -> None:
            if self._stopping.is_set() or job.id in self._cancelled:
                raise _Stop()
            percent = SAMPLING_SHARE * step // max(total, 1)
            if percent != last[0]:  # one write per visible change, not per step
                last[0] = percent
                if not self.store.set_progress(job.id, percent):  # deleted meanwhile
                    self._cancelled.add(job.id)
                    raise _Stop()

        return report

    def _run(self, job: Job) -> None:
        spec = job.spec
        try:
            inputs = self.files.load_inputs(job.id, spec.inputs)
        except OSError:
            self.store.fail(job.id, "input_missing", "the job's input files are missing")
            return
        try:
            frames = generate(self.model, build_request(spec, inputs), self._progress(job))
        except _Stop:
            if job.id in self._cancelled:
                self.files.remove(job.id)
                log.info("job %s cancelled", job.id)
            else:
                self.store.requeue(job.id)
                log.info("job %s interrupted by shutdown; queued again", job.id)
            return
        except KinemaError as error:
            self.store.fail(job.id, "invalid_request", str(error))
            return
        scratch = self.files.scratch(job.id)
        try:
            fps = self.model.config.fps
            rendered = media.render_variants(frames, fps, scratch)
            self.files.write_outputs(job.id, rendered, frames)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        count, height, width, _ = frames.shape
        if not self.store.complete(job.id, format_seconds((count - 1) / fps), f"{width}x{height}"):
            self.files.remove(job.id)  # deleted while its files were being written
            return
        log.info("job %s completed: %d frames, %dx%d", job.id, count, width, height)
