"""The Kinema server as a FastAPI app: the API under /v1, the studio page at /."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import Depends, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

import kinema
from kinema.model import KinemaModel
from kinema.server.config import ServerConfig
from kinema.server.errors import install_error_handlers
from kinema.server.files import VideoFiles
from kinema.server.geometry import Geometry
from kinema.server.openapi import install_openapi
from kinema.server.routes import router
from kinema.server.security import (
    ApiKeyCheck,
    BodyLimit,
    RequestGuard,
    SecurityHeaders,
    trusted_hosts,
)
from kinema.server.state import ServerState
from kinema.server.store import JobStore
from kinema.server.worker import Worker

log = logging.getLogger("kinema.server")
STATIC = resources.files("kinema.server") / "static"

DESCRIPTION = """\
Kinema's text-to-video model behind OpenAI's Videos API: point the `openai` SDK's
`base_url` at `http://HOST:PORT/v1`. Videos are jobs: create one, poll it until its status
is `completed`, then download its content. Kinema adds extension (`/extend`), transitions
between two videos (`/connect`), loops (`loop: true`) and generation options (`seed`,
`steps`, `guidance`, `negative_prompt`). `GET /v1/kinema` lists the sizes and durations
the served model makes. Errors have OpenAI's shape: `{"error": {"message", "type",
"param", "code"}}`.
"""


def create_app(config: ServerConfig, model: KinemaModel) -> FastAPI:
    """An app serving `model`; its worker starts and stops with the app's lifespan."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    store = JobStore(config.database_url())
    files = VideoFiles(config.data_dir)
    state = ServerState(
        config=config,
        model_name=config.served_model_name(),
        geometry=Geometry.from_model(model, config.limits),
        store=store,
        files=files,
        worker=Worker(store, files, model),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        requeued, failed = store.recover(config.limits.max_attempts)
        if requeued or failed:
            log.warning("after a stop: %d jobs queued again, %d failed", len(requeued), len(failed))
        orphans = files.remove_orphans(store.ids())
        if orphans:
            log.warning("removed the files of %d videos the job store does not hold", len(orphans))
        state.worker.start()
        try:
            yield
        finally:
            state.worker.stop()
            store.close()

    app = FastAPI(
        title="Kinema",
        version=kinema.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # the interactive docs load scripts from a CDN; /openapi.json stays
        redoc_url=None,
    )
    app.state.kinema = state
    install_error_handlers(app)
    install_openapi(app, bearer=config.api_key is not None)
    app.include_router(router, prefix="/v1", dependencies=[Depends(ApiKeyCheck(config.api_key))])

    @app.get("/", include_in_schema=False)
    def studio() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"), media_type="text/html")

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodyLimit, max_bytes=config.limits.max_upload_bytes)
    hosts = trusted_hosts(config.host, config.allowed_hosts)
    app.add_middleware(RequestGuard, allowed_hosts=hosts)  # outermost
    return app
