"""Server settings: where it listens, what it serves, where it keeps jobs, and its limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATA_DIR = Path("kinema-data")


@dataclass(frozen=True)
class Limits:
    """What one request may ask for. Sizes left at None follow the served model."""

    max_prompt_chars: int = 1000
    max_upload_bytes: int = 32 * 1024 * 1024
    max_queue: int = 32  # queued + running jobs; past it a create is answered 429
    max_steps: int = 200
    max_frames: int | None = None  # None: four times the model's default clip length
    max_pixels: int | None = None  # per frame; None: four times the model's default area
    max_clip_frames: int = 300  # frames of an uploaded video, or of an extended video
    max_input_pixels: int = 1920 * 1080  # per frame of an uploaded image or video
    max_attempts: int = 2  # a job interrupted this many times by a crash is failed
    max_page: int = 100  # items per page of GET /v1/videos


@dataclass(frozen=True)
class ServerConfig:
    checkpoint: Path
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = DEFAULT_DATA_DIR
    db_url: str | None = None  # None: a SQLite file in data_dir
    api_key: str | None = None  # required when host is not a loopback address
    device: str | None = None  # None: the best device here
    model_name: str | None = None  # None: the checkpoint folder's name
    poll_after_ms: int = 250  # hint to SDK pollers (openai-poll-after-ms header)
    # Host names requests may be addressed to; None: loopback names when bound to loopback
    # (against DNS rebinding), any name otherwise (the API key guards those).
    allowed_hosts: tuple[str, ...] | None = None
    limits: Limits = field(default_factory=Limits)

    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{Path(self.data_dir).resolve() / 'kinema.db'}"

    def served_model_name(self) -> str:
        return self.model_name or Path(self.checkpoint).resolve().name
