"""Durability: `kinema serve` killed outright with one job running and others queued, then
started again on the same data folder, finishes every job and keeps what was done."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import httpx
import pytest
from serverkit import wait_for

PROMPT = "a red circle moves to the right on a black background"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServeProcess:
    def __init__(self, checkpoint, data_dir, log_path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "kinema.cli", "serve", "--checkpoint", str(checkpoint)]
        command += ["--port", str(self.port), "--data-dir", str(data_dir), "--max-steps", "20000"]
        self.log = open(log_path, "ab")  # noqa: SIM115 (closed in stop)
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        self.process = subprocess.Popen(command, stdout=self.log, stderr=self.log, env=env)
        wait_for(self._ready, timeout=90, interval=0.1)

    def _ready(self) -> bool:
        assert self.process.poll() is None, "kinema serve exited"
        try:
            return httpx.get(f"{self.url}/v1/kinema", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.url}/v1{path}", timeout=10)

    def create(self, **body) -> str:
        response = httpx.post(f"{self.url}/v1/videos", json={"prompt": PROMPT, **body}, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()["id"]

    def video(self, video_id: str) -> dict:
        return self.get(f"/videos/{video_id}").json()

    def stop(self, sig: int) -> None:
        self.process.send_signal(sig)
        self.process.wait(30)
        self.log.close()


@pytest.fixture
def started(debug_run, tmp_path):
    processes = []

    def start() -> ServeProcess:
        process = ServeProcess(debug_run, tmp_path / "data", tmp_path / "serve.log")
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.process.poll() is None:
            process.stop(signal.SIGKILL)


def test_jobs_survive_a_killed_server(started):
    server = started()
    done = server.create(seconds="1")
    wait_for(lambda: server.video(done)["status"] == "completed")
    content = server.get(f"/videos/{done}/content").content
    thumbnail = server.get(f"/videos/{done}/content?variant=thumbnail").content
    running = server.create(steps=3000)
    queued = [server.create(seconds="2", seed=seed) for seed in range(2)]
    wait_for(lambda: 0 < server.video(running)["progress"] < 90)
    assert [server.video(v)["status"] for v in queued] == ["queued", "queued"]
    server.stop(signal.SIGKILL)  # no chance to clean up: as a crash or power cut

    server = started()
    for video_id in (running, *queued):
        video = wait_for(lambda v=video_id: _finished(server, v), timeout=120)
        assert video["status"] == "completed", video["error"]
    listed = {video["id"] for video in server.get("/videos?limit=100").json()["data"]}
    assert listed == {done, running, *queued}  # none vanished
    assert server.get(f"/videos/{done}/content").content == content  # byte-identical
    assert server.get(f"/videos/{done}/content?variant=thumbnail").content == thumbnail
    assert server.video(running)["frames"] == 5


def _finished(server: ServeProcess, video_id: str) -> dict | None:
    video = server.video(video_id)
    return video if video["status"] in ("completed", "failed") else None
