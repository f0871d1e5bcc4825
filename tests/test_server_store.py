"""The server's parts without HTTP: job store, worker, geometry rules, uploads, bind check."""

from __future__ import annotations

import io
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from serverkit import make_app

from kinema.data.video_io import write_video
from kinema.errors import KinemaError
from kinema.model import load_model
from kinema.server import Limits
from kinema.server.errors import ApiError
from kinema.server.files import VideoFiles, new_video_id
from kinema.server.geometry import Geometry
from kinema.server.jobs import JobSpec
from kinema.server.security import check_bind, is_loopback
from kinema.server.store import JobStore, QueueFull
from kinema.server.uploads import decode_data_url, decode_video
from kinema.server.worker import Worker


@pytest.fixture(scope="module")
def model(debug_run):
    return load_model(debug_run, "cpu")


def spec(**changes) -> JobSpec:
    values = {"mode": "text", "prompt": "a red circle", "frames": 5, "height": 16, "width": 16}
    return JobSpec(**{**values, **changes})


def add(store: JobStore, **changes):
    return store.add(
        new_video_id(), model="m", spec=spec(**changes), seconds="1", size="16x16", max_active=99
    )


def test_store_survives_reopening_and_recovers_interrupted_jobs(tmp_path):
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    store = JobStore(url)
    first, second, third = add(store), add(store), add(store, seed=7)
    assert store.claim_next().id == first.id  # oldest first
    assert store.claim_next().id == second.id
    assert store.complete(second.id, "1", "16x16")
    store.close()

    reopened = JobStore(url)  # as after a crash: `first` was left running
    assert reopened.get(third.id).spec.seed == 7
    assert reopened.recover(max_attempts=2) == ([first.id], [])
    assert reopened.get(first.id).status == "queued"
    assert reopened.get(second.id).status == "completed"
    assert reopened.claim_next().id == first.id  # second attempt
    assert reopened.recover(max_attempts=2) == ([], [first.id])  # interrupted twice: failed
    failed = reopened.get(first.id)
    assert failed.status == "failed" and failed.error_code == "interrupted"
    assert "stopped while generating this video 2 times" in failed.error_message


def test_store_pages_limits_and_deletes(tmp_path):
    store = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    ids = [add(store).id for _ in range(5)]
    jobs, more = store.page(None, 2, ascending=False)
    assert [j.id for j in jobs] == ids[::-1][:2] and more
    jobs, more = store.page(ids[2], 5, ascending=True)
    assert [j.id for j in jobs] == ids[3:] and not more
    with pytest.raises(KeyError):
        store.page("video_missing", 2, ascending=True)
    with pytest.raises(QueueFull):
        store.add(new_video_id(), model="m", spec=spec(), seconds="1", size="s", max_active=5)
    assert store.delete(ids[0]).id == ids[0] and store.get(ids[0]) is None
    assert store.delete(ids[0]) is None
    # A client paging with a cursor whose video was deleted meanwhile goes on from its place.
    assert store.delete(ids[2]).id == ids[2]
    jobs, more = store.page(ids[2], 5, ascending=True)
    assert [j.id for j in jobs] == ids[3:] and not more
    jobs, more = store.page(ids[2], 5, ascending=False)
    assert [j.id for j in jobs] == [ids[1]] and not more
    assert ids[2] not in store.ids()
    assert not store.set_progress(ids[0], 10)  # a deleted job takes no progress


def test_concurrent_creates_never_pass_the_queue_limit(tmp_path):
    store = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")

    def create(_: int) -> bool:
        try:
            store.add(new_video_id(), model="m", spec=spec(), seconds="1", size="s", max_active=3)
        except QueueFull:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        accepted = list(pool.map(create, range(24)))
    assert sum(accepted) == 3
    assert len(store.page(None, 100, ascending=True)[0]) == 3


class RecordingStore(JobStore):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.progress: list[int] = []

    def set_progress(self, video_id: str, progress: int) -> bool:
        self.progress.append(progress)
        return super().set_progress(video_id, progress)


def test_worker_reports_each_step_and_writes_variants(model, tmp_path):
    store = RecordingStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    files = VideoFiles(tmp_path)
    worker = Worker(store, files, model)
    job = add(store, steps=4)
    bad = add(store, frames=6)  # not 1 + 4k: the pipeline refuses it
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while store.get(bad.id).status in ("queued", "in_progress"):
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        worker.stop()
    assert store.progress == [23, 47, 71, 95]  # one report per sampling step
    done = store.get(job.id)
    assert (done.status, done.progress, done.seconds, done.size) == ("completed", 100, "1", "16x16")
    names = sorted(p.name for p in files.folder(job.id).iterdir())
    assert names == ["frames.npy", "spritesheet.jpg", "thumbnail.webp", "video.mp4"]
    failed = store.get(bad.id)
    assert failed.status == "failed" and "1 + 4k" in failed.error_message


def test_geometry_names_what_is_allowed(model):
    geometry = Geometry.from_model(model, Limits())
    assert geometry.allowed_frames == (1, 5, 9, 13, 17)
    assert geometry.allowed_seconds == ("0", "1", "2", "3", "4")
    assert geometry.parse_seconds("2") == 9 and geometry.parse_seconds(None) == 5
    assert geometry.parse_seconds(0) == 1  # a single image
    assert geometry.parse_extension("1") == 4 and geometry.parse_transition(None) == 4
    assert geometry.parse_size("32x16") == (16, 32)
    for size in ("15x16", "1280x720", "16", "-8x8", "0x0"):
        with pytest.raises(ApiError, match="multiple of 8") as refused:
            geometry.parse_size(size)
        assert refused.value.status == 400 and refused.value.param == "size"
    for seconds in ("1.1", "5", "nan", "-1", "inf", "x"):
        with pytest.raises(ApiError, match="0, 1, 2, 3, 4 seconds"):
            geometry.parse_seconds(seconds)
    assert geometry.clip_frames(12) == 9


def test_bind_needs_a_key_beyond_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    check_bind("127.0.0.1", None)
    with pytest.raises(KinemaError, match="KINEMA_API_KEY"):
        check_bind("0.0.0.0", None)
    with pytest.raises(KinemaError, match="at least 16"):
        check_bind("0.0.0.0", "short")
    check_bind("0.0.0.0", "a-long-enough-secret-key")


def test_uploads_are_decoded_at_the_model_frame_rate(tmp_path):
    clip = np.zeros((24, 32, 48, 3), dtype=np.uint8)
    clip[:, :, :, 0] = np.arange(24)[:, None, None] * 10
    write_video(clip, tmp_path / "in.mp4", 12)
    data = (tmp_path / "in.mp4").read_bytes()
    frames = decode_video(data, "video", fps=4, max_frames=100, max_pixels=10_000)
    assert frames.shape == (8, 32, 48, 3)  # 2 s at 4 fps
    assert abs(int(frames[1, 5, 5, 0]) - 30) <= 3  # source frame 3 of 12 fps
    fitted = decode_video(data, "video", fps=4, max_frames=100, max_pixels=10_000, fit=(16, 16))
    assert fitted.shape == (8, 16, 16, 3)  # decoded straight to the job's size
    assert abs(int(fitted[1, 5, 5, 0]) - 30) <= 3
    with pytest.raises(ApiError, match="more than 10 frames"):
        decode_video(data, "video", fps=4, max_frames=10, max_pixels=10_000)
    with pytest.raises(ApiError, match="at most 100 pixels"):
        decode_video(data, "video", fps=4, max_frames=100, max_pixels=100)
    for junk in (b"", b"#EXTM3U\nfile:///etc/passwd\n", b"\x00\x00\x00\x18ftypmp42" + bytes(50)):
        with pytest.raises(ApiError) as refused:
            decode_video(junk, "video", fps=4, max_frames=100, max_pixels=10_000)
        assert refused.value.status == 400

    buffer = io.BytesIO()
    Image.new("RGB", (5, 3), (1, 2, 3)).save(buffer, "WEBP")
    image = decode_video(buffer.getvalue(), "video", 4, 100, 10_000)  # an image: one frame
    assert image.shape == (1, 3, 5, 3)
    with pytest.raises(ApiError, match="not valid base64"):
        decode_data_url("data:image/png;base64,@@@", "input_reference", 1000, 1000)


def test_a_clean_stop_queues_the_running_job_again(model, tmp_path):
    store = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    worker = Worker(store, VideoFiles(tmp_path), model)
    job = add(store, steps=100_000)
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while store.get(job.id).progress == 0:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        worker.stop()
    stopped = store.get(job.id)
    assert (stopped.status, stopped.progress, stopped.attempts) == ("queued", 0, 0)


def test_a_start_removes_files_of_videos_the_store_does_not_hold(model, debug_run, tmp_path):
    store = JobStore(f"sqlite:///{tmp_path / 'kinema.db'}")
    kept = add(store)
    store.close()
    files = VideoFiles(tmp_path)
    frames = np.zeros((1, 16, 16, 3), dtype=np.uint8)
    orphan = new_video_id()  # as if the server died between saving inputs and the insert
    for video_id in (kept.id, orphan):
        files.save_input(video_id, "image", frames)
    (files.root / "notes").mkdir()  # not a video folder: left alone
    app = make_app(model, debug_run, tmp_path)  # its store: the default DATA/kinema.db
    with TestClient(app):
        pass
    assert files.folder(kept.id).is_dir() and not files.folder(orphan).exists()
    assert (files.root / "notes").is_dir()


def test_serve_command_refuses_unsafe_or_incomplete_settings(debug_run, monkeypatch):
    from typer.testing import CliRunner

    import kinema.shipped
    from kinema.cli import app

    runner = CliRunner()
    monkeypatch.delenv("KINEMA_API_KEY", raising=False)
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--checkpoint", str(debug_run)])
    assert result.exit_code == 2 and "KINEMA_API_KEY" in result.output
    monkeypatch.setattr(kinema.shipped, "default_checkpoint", lambda: None)
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 2 and "no --checkpoint given" in result.output
