"""What the routes share: settings, the served model's geometry, the store, files, worker."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from kinema.server.config import ServerConfig
from kinema.server.files import VideoFiles
from kinema.server.geometry import Geometry
from kinema.server.store import JobStore
from kinema.server.worker import Worker


@dataclass(frozen=True)
class ServerState:
    config: ServerConfig
    model_name: str
    geometry: Geometry
    store: JobStore
    files: VideoFiles
    worker: Worker


def server_state(request: Request) -> ServerState:
    return request.app.state.kinema
