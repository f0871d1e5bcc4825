"""The durable job store: one SQL table of video jobs through SQLAlchemy (SQLite by default).

Every state change is one short transaction, so a crash at any moment leaves each job in a
state the next start understands: `recover()` re-queues jobs that were running (or fails
them once they have been interrupted `max_attempts` times), queued jobs simply run, and
completed jobs keep their files.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import Integer, String, Text, create_engine, event, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from kinema.server.jobs import JobSpec

QUEUED, RUNNING, COMPLETED, FAILED = "queued", "in_progress", "completed", "failed"
ACTIVE = (QUEUED, RUNNING)


class _Base(DeclarativeBase):
    pass


class _VideoRow(_Base):
    __tablename__ = "videos"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)  # order
    id: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    model: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(16))
    prompt: Mapped[str] = mapped_column(Text)
    seconds: Mapped[str] = mapped_column(String(32))
    size: Mapped[str] = mapped_column(String(32))
    spec: Mapped[str] = mapped_column(Text)  # JobSpec as JSON
    remixed_from_video_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[int | None] = mapped_column(Integer, nullable=True)
    completed_at: Mapped[int | None] = mapped_column(Integer, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)


class _DeletedRow(_Base):
    """Where a deleted video stood, so a paging cursor that names it still pages on."""

    __tablename__ = "deleted_videos"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)


@dataclass(frozen=True)
class Job:
    """One video job as stored: a plain value, safe to pass between threads."""

    id: str
    seq: int
    status: str
    progress: int
    model: str
    mode: str
    prompt: str
    seconds: str
    size: str
    spec: JobSpec
    remixed_from_video_id: str | None
    created_at: int
    started_at: int | None
    completed_at: int | None
    attempts: int
    error_code: str | None
    error_message: str | None


def _job(row: _VideoRow) -> Job:
    return Job(
        id=row.id,
        seq=row.seq,
        status=row.status,
        progress=row.progress,
        model=row.model,
        mode=row.mode,
        prompt=row.prompt,
        seconds=row.seconds,
        size=row.size,
        spec=JobSpec.from_json(row.spec),
        remixed_from_video_id=row.remixed_from_video_id,
        created_at=row.created_at,
        started_at=row.started_at,
        completed_at=row.completed_at,
        attempts=row.attempts,
        error_code=row.error_code,
        error_message=row.error_message,
    )


class QueueFull(Exception):
    """More jobs are waiting or running than the server accepts."""


def _engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    # The worker thread and the request threads share the file: allow cross-thread use,
    # wait for locks instead of failing, and use WAL so readers never block the writer.
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(connection, _record) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # a completed job survives a power cut
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


class JobStore:
    def __init__(self, url: str) -> None:
        self.engine = _engine(url)
        _Base.metadata.create_all(self.engine)
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        # The queue-length check and the insert are one step for this server's request
        # threads (SQLite's driver begins the transaction only at the insert).
        self._adding = threading.Lock()

    def close(self) -> None:
        self.engine.dispose()

    def _row(self, session: Session, video_id: str) -> _VideoRow | None:
        return session.scalar(select(_VideoRow).where(_VideoRow.id == video_id))

    def add(
        self,
        video_id: str,
        *,
        model: str,
        spec: JobSpec,
        seconds: str,
        size: str,
        max_active: int,
        remixed_from_video_id: str | None = None,
    ) -> Job:
        """Queue a job, or raise QueueFull when `max_active` jobs are queued or running."""
        with self._adding, self._session.begin() as session:
            if self._active_count(session) >= max_active:
                raise QueueFull()
            row = _VideoRow(
                id=video_id,
                status=QUEUED,
                progress=0,
                model=model,
                mode=spec.mode,
                prompt=spec.prompt,
                seconds=seconds,
                size=size,
                spec=spec.to_json(),
                remixed_from_video_id=remixed_from_video_id,
                created_at=int(time.time()),
                attempts=0,
            )
            session.add(row)
            session.flush()
            return _job(row)

    def _active_count(self, session: Session) -> int:
        query = select(func.count()).select_from(_VideoRow).where(_VideoRow.status.in_(ACTIVE))
        return session.scalar(query) or 0

    def active_count(self) -> int:
        with self._session() as session:
            return self._active_count(session)

    def get(self, video_id: str) -> Job | None:
        with self._session() as session:
            row = self._row(session, video_id)
            return None if row is None else _job(row)

    def ids(self) -> set[str]:
        """Every stored video id."""
        with self._session() as session:
            return set(session.scalars(select(_VideoRow.id)).all())

    def page(self, after: str | None, limit: int, ascending: bool) -> tuple[list[Job], bool]:
        """Up to `limit` jobs after the one named `after` (None: from the start), and
        whether more follow. A deleted video still marks its place; `after` naming a video
        this store never held raises KeyError."""
        with self._session() as session:
            query = select(_VideoRow)
            if after is not None:
                anchor = self._row(session, after) or session.get(_DeletedRow, after)
                if anchor is None:
                    raise KeyError(after)
                newer = _VideoRow.seq > anchor.seq
                query = query.where(newer if ascending else _VideoRow.seq < anchor.seq)
            order = _VideoRow.seq.asc() if ascending else _VideoRow.seq.desc()
            rows = session.scalars(query.order_by(order).limit(limit + 1)).all()
            return [_job(row) for row in rows[:limit]], len(rows) > limit

    def claim_next(self) -> Job | None:
        """Mark the oldest queued job running and return it (None: nothing is queued)."""
        with self._session.begin() as session:
            query = select(_VideoRow.id).where(_VideoRow.status == QUEUED)
            video_id = session.scalar(query.order_by(_VideoRow.seq).limit(1))
            if video_id is None:
                return None
            claimed = session.execute(
                update(_VideoRow)
                .where(_VideoRow.id == video_id, _VideoRow.status == QUEUED)
                .values(
                    status=RUNNING,
                    progress=0,
                    started_at=int(time.time()),
                    attempts=_VideoRow.attempts + 1,
                )
            )
            if claimed.rowcount != 1:
                return None
            return _job(self._row(session, video_id))

    def _update(self, video_id: str, only_if: str | None, **values: object) -> bool:
        """Change a job (only while its status is `only_if`, unless None); False when it
        no longer exists (deleted meanwhile) or has another status."""
        with self._session.begin() as session:
            query = update(_VideoRow).where(_VideoRow.id == video_id)
            if only_if is not None:
                query = query.where(_VideoRow.status == only_if)
            return session.execute(query.values(**values)).rowcount == 1

    def set_progress(self, video_id: str, progress: int) -> bool:
        return self._update(video_id, RUNNING, progress=progress)

    def complete(self, video_id: str, seconds: str, size: str) -> bool:
        return self._update(
            video_id,
            RUNNING,
            status=COMPLETED,
            progress=100,
            seconds=seconds,
            size=size,
            completed_at=int(time.time()),
        )

    def fail(self, video_id: str, code: str, message: str) -> bool:
        return self._update(
            video_id,
            None,
            status=FAILED,
            error_code=code,
            error_message=message,
            completed_at=int(time.time()),
        )

    def requeue(self, video_id: str) -> bool:
        """Put a job interrupted by a clean shutdown back in the queue; the try is not
        counted against it."""
        return self._update(
            video_id, RUNNING, status=QUEUED, progress=0, attempts=_VideoRow.attempts - 1
        )

    def delete(self, video_id: str) -> Job | None:
        with self._session.begin() as session:
            row = self._row(session, video_id)
            if row is None:
                return None
            job = _job(row)
            session.delete(row)
            session.add(_DeletedRow(id=row.id, seq=row.seq))
            return job

    def recover(self, max_attempts: int) -> tuple[list[str], list[str]]:
        """After a crash: jobs left running are re-queued, or failed once they have been
        interrupted `max_attempts` times. Returns (re-queued ids, failed ids)."""
        requeued, failed = [], []
        with self._session.begin() as session:
            rows = session.scalars(select(_VideoRow).where(_VideoRow.status == RUNNING)).all()
            for row in rows:
                if row.attempts >= max_attempts:
                    row.status = FAILED
                    row.error_code = "interrupted"
                    row.error_message = (
                        f"the server stopped while generating this video {row.attempts} "
                        "times; it was not retried again. Create it anew to try once more."
                    )
                    row.completed_at = int(time.time())
                    failed.append(row.id)
                else:
                    row.status = QUEUED
                    row.progress = 0
                    requeued.append(row.id)
        return requeued, failed
