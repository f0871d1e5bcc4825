"""Helpers for the server tests: an app on a trained debug model, served on loopback."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import uvicorn

from kinema.model import KinemaModel
from kinema.server import Limits, ServerConfig
from kinema.server.app import create_app


def make_app(model: KinemaModel, checkpoint: Path, data_dir: Path, **overrides):
    limits = overrides.pop("limits", Limits())
    config = ServerConfig(checkpoint=checkpoint, data_dir=data_dir, limits=limits, **overrides)
    return create_app(config, model)


class LiveServer:
    """Runs an app with uvicorn in a thread on a free loopback port (the socket is bound
    here first, so no other process can take the port in between)."""

    def __init__(self, app) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_exc) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.socket.close()


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.05):
    """Poll `predicate()` until it returns something truthy; that value, or AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")
        time.sleep(interval)
