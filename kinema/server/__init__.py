"""The Kinema server: OpenAI's Videos API, a durable job queue and a web studio.

FastAPI and friends are an optional extra (`pip install 'kinema[server]'`); import
`kinema.server.app.create_app` or `kinema.server.serve.serve` to use them.
"""

from kinema.server.config import Limits, ServerConfig

__all__ = ["Limits", "ServerConfig"]
