"""`kinema serve`: check the settings, load the model, run the app with uvicorn."""

from __future__ import annotations

import logging

from kinema.server.config import ServerConfig
from kinema.server.security import check_bind


def serve(config: ServerConfig) -> None:
    """Run the server until interrupted (Ctrl-C stops it; a running job is queued again)."""
    import uvicorn

    from kinema.model import load_model, resolve_device
    from kinema.server.app import create_app

    check_bind(config.host, config.api_key)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(name)s: %(message)s")
    model = load_model(config.checkpoint, resolve_device(config.device))
    app = create_app(config, model)
    where = f"http://{config.host}:{config.port}"
    logging.getLogger("kinema.server").info(
        "serving %s on %s (studio at %s/, API at %s/v1)",
        config.served_model_name(),
        model.device,
        where,
        where,
    )
    uvicorn.run(app, host=config.host, port=config.port, log_level="info", access_log=False)
