"""The analyses table (SQLAlchemy 2): one row per submitted file and its job.

SQLite by default (WAL mode, so readers never wait on the worker's writes);
PostgreSQL is supported and tested (``postgresql+psycopg://user:pass@host:5432/db``,
``pip install -e '.[postgres]'``). Rows are returned detached, so callers can read
them after the session is gone.

What differs between the two is handled here: PostgreSQL refuses NaN in JSON, NUL
characters in text and strings longer than their VARCHAR (the result document is
stored as strict JSON and short display columns are clipped, on every database);
job claiming locks the claimed row (``FOR UPDATE SKIP LOCKED``) so concurrent
workers never wait on, or take, the same job; and the tables are created under an
advisory lock so several processes can open a new database at once.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Literal, get_args

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
    case,
    create_engine,
    event,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.orm import DeclarativeBase, Mapped, deferred, mapped_column, sessionmaker

from ..dbcheck import damaged_message, history_files, is_damage, lost_history_message, sqlite_problem
from ..dburl import masked_url, normalize_database_url
from ..errors import ConfigError
from ..log import get_logger

log = get_logger(__name__)

#: A job's states, in order (the `status` column; the API's status filter derives from it).
JobStatus = Literal["queued", "running", "done", "failed"]
STATUSES: tuple[str, ...] = get_args(JobStatus)
#: Runs a job gets when what stopped it was not the file (server crash, killed worker, full disk).
MAX_ATTEMPTS = 2
#: pg_advisory_xact_lock key held while the tables are created ("seethrough" in ASCII, truncated).
_SCHEMA_LOCK_KEY = 0x7365657468726F75


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def json_dumps(obj: Any) -> str:
    """Strict JSON for the JSON columns: NaN and infinities become ``null``.

    PostgreSQL rejects the ``NaN`` token Python writes by default, and the API
    serves these documents as strict JSON anyway.
    """
    try:
        return json.dumps(obj, allow_nan=False)
    except ValueError:
        log.debug("non-finite numbers in a stored document were replaced by null")
        return json.dumps(_finite(obj), allow_nan=False)


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def new_id() -> str:
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    pass


class AnalysisRow(Base):
    """One submitted file and its analysis job."""

    __tablename__ = "analyses"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))  # sanitised original name, display only
    stored_path: Mapped[str] = mapped_column(String(255))  # relative to the data folder, server-made
    kind: Mapped[str | None] = mapped_column(String(8), nullable=True)  # image | video
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)  # INTEGER stops at 2 GiB on PostgreSQL
    settings_key: Mapped[str] = mapped_column(String(64))
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    narrator: Mapped[str] = mapped_column(String(64), default="template")
    status: Mapped[str] = mapped_column(String(10), default="queued")
    stage: Mapped[str | None] = mapped_column(String(32), nullable=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    analysis_status: Mapped[str | None] = mapped_column(String(10), nullable=True)  # ok | no_face | error
    verdict: Mapped[str | None] = mapped_column(String(10), nullable=True)
    fake_probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    narrative_engine: Mapped[str | None] = mapped_column(String(80), nullable=True)
    result: Mapped[dict | None] = deferred(mapped_column(JSON, nullable=True))
    artefacts: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    batch_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    __table_args__ = (
        Index("ix_analyses_dedup", "sha256", "settings_key"),
        Index("ix_analyses_status_created", "status", "created_at"),
        Index("ix_analyses_created", "created_at"),
        Index("ix_analyses_verdict", "verdict"),
        Index("ix_analyses_name", "name"),
        Index("ix_analyses_batch", "batch_id"),
    )


#: Display columns clipped to their VARCHAR length (PostgreSQL refuses longer strings;
#: SQLite stores them whole). Identifiers and paths are never clipped: too long is a bug there.
_CLIPPED = ("name", "kind", "narrator", "stage", "error_code", "analysis_status", "verdict", "narrative_engine")
_LIMITS = {name: AnalysisRow.__table__.c[name].type.length for name in _CLIPPED}


def _fit(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` ready for any database: no NUL characters in strings, display columns clipped."""
    out = {}
    for key, value in values.items():
        if isinstance(value, str):
            value = value.replace("\x00", "")
            limit = _LIMITS.get(key)
            if limit and len(value) > limit:
                log.warning("%s clipped to %d characters: %.40r...", key, limit, value)
                value = value[:limit]
        out[key] = value
    return out


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


class Store:
    """Typed access to the analyses table."""

    def __init__(self, url: str):
        """Open (and if needed create) the table at ``url``; :class:`ConfigError` with a plain
        reason (password masked) when the URL, the driver or the server is not usable."""
        self.url = normalize_database_url(url)
        self.shown = shown = masked_url(self.url)
        self.zero_bytes = False  # an existing SQLite file of 0 bytes (see check_history)
        try:
            parsed = make_url(self.url)
            sqlite = parsed.get_backend_name() == "sqlite"
            if sqlite and parsed.database not in (None, "", ":memory:"):
                db_file = Path(parsed.database)
                self.zero_bytes = db_file.is_file() and db_file.stat().st_size == 0
            self.engine = create_engine(
                self.url,
                connect_args={"check_same_thread": False, "timeout": 10} if sqlite else {},
                pool_pre_ping=not sqlite,
                json_serializer=json_dumps,
            )
        except ModuleNotFoundError as exc:
            raise ConfigError(f"The database driver for {shown} is not installed ({exc.name}); for PostgreSQL "
                              "run: pip install -e '.[postgres]' and use postgresql+psycopg://...") from None
        except (ArgumentError, NoSuchModuleError) as exc:
            raise ConfigError(f"DATABASE_URL {shown} is not a usable database URL ({exc}); use e.g. "
                              "sqlite:////path/seethrough.db or postgresql+psycopg://user:pass@host:5432/db") from None
        self.dialect = self.engine.dialect.name
        if sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            self._create_schema()
            problem = self._damage() if sqlite else None
        except DBAPIError as exc:
            self.engine.dispose()
            lines = str(exc.orig or exc).strip().splitlines()
            reason = lines[0] if lines else type(exc).__name__
            if is_damage(reason):
                raise ConfigError(damaged_message(shown, reason)) from None
            raise ConfigError(f"Cannot open the database {shown}: {reason}") from exc
        if problem:
            self.engine.dispose()
            raise ConfigError(damaged_message(shown, problem))
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    def _create_schema(self) -> None:
        if self.dialect == "postgresql":
            # Two servers starting on a new database would otherwise both CREATE TABLE.
            with self.engine.begin() as conn:
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
                Base.metadata.create_all(conn)
        else:
            Base.metadata.create_all(self.engine)

    def _damage(self) -> str | None:
        """SQLite's quick check of the whole file: pages the schema does not touch may be damaged too."""
        with self.engine.connect() as conn:
            return sqlite_problem(conn)

    def check_history(self, data_dir: Path) -> None:
        """:class:`ConfigError` when this database holds no analyses but ``data_dir`` holds their
        results or uploads (an emptied, truncated or replaced database), instead of starting a new
        history beside files nothing points at."""
        with self._session() as s:
            if s.scalar(select(AnalysisRow.id).limit(1)) is not None:
                return
        message = lost_history_message(self.shown, data_dir, history_files(data_dir), self.zero_bytes)
        if message:
            raise ConfigError(message)

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> bool:
        with self.engine.connect() as conn:
            conn.execute(select(1))
        return True

    # ---------------------------------------------------------------- create

    def create(self, **fields: Any) -> AnalysisRow:
        row = AnalysisRow(id=new_id(), status="queued", progress=0.0, attempts=0, **_fit(fields))
        now = utcnow()
        row.created_at = row.updated_at = now
        with self._session.begin() as s:
            s.add(row)
        return row

    def add(self, row: AnalysisRow) -> AnalysisRow:
        """Insert ``row`` exactly as built (id, status, attempts and times included, e.g. a row
        another server left running); :meth:`create` is how a new analysis is queued."""
        with self._session.begin() as s:
            s.add(row)
        return row

    def find_reusable(self, sha256: str, settings_key: str) -> AnalysisRow | None:
        """The newest finished, queued or running analysis of the same content and settings."""
        with self._session() as s:
            return s.scalars(
                select(AnalysisRow)
                .where(
                    AnalysisRow.sha256 == sha256,
                    AnalysisRow.settings_key == settings_key,
                    AnalysisRow.status.in_(("queued", "running", "done")),
                )
                .order_by(AnalysisRow.created_at.desc())
                .limit(1)
            ).first()

    # ------------------------------------------------------------------ read

    def get(self, analysis_id: str) -> AnalysisRow | None:
        with self._session() as s:
            return s.get(AnalysisRow, analysis_id)

    def get_result(self, analysis_id: str) -> dict | None:
        with self._session() as s:
            return s.scalar(select(AnalysisRow.result).where(AnalysisRow.id == analysis_id))

    def list(
        self,
        *,
        q: str | None = None,
        verdict: str | None = None,
        status: str | None = None,
        batch_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[AnalysisRow], int]:
        """Newest first; ``q`` matches the file name (case-insensitive) or an id / sha256 prefix."""
        conds = []
        if q and any(ord(ch) < 32 for ch in q):
            return [], 0  # no file name, id or sha256 holds a control character (SQLite stops a pattern at NUL)
        if q:
            esc = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conds.append(
                or_(
                    AnalysisRow.name.ilike(f"%{esc}%", escape="\\"),
                    AnalysisRow.id.like(f"{esc.lower()}%", escape="\\"),
                    AnalysisRow.sha256.like(f"{esc.lower()}%", escape="\\"),
                )
            )
        if verdict:
            conds.append(AnalysisRow.verdict == verdict)
        if status:
            conds.append(AnalysisRow.status == status)
        if batch_id:
            conds.append(AnalysisRow.batch_id == batch_id)
        with self._session() as s:
            total = s.scalar(select(func.count()).select_from(AnalysisRow).where(*conds)) or 0
            rows = s.scalars(
                select(AnalysisRow).where(*conds).order_by(AnalysisRow.created_at.desc(), AnalysisRow.id)
                .limit(limit).offset(offset)
            ).all()
        return list(rows), int(total)

    def counts(self) -> dict[str, int]:
        with self._session() as s:
            pairs = s.execute(select(AnalysisRow.status, func.count()).group_by(AnalysisRow.status)).all()
        out = {k: 0 for k in STATUSES}
        out.update({k: int(n) for k, n in pairs})
        return out

    def count_sha_refs(self, sha256: str) -> int:
        with self._session() as s:
            return int(s.scalar(select(func.count()).select_from(AnalysisRow).where(AnalysisRow.sha256 == sha256)) or 0)

    # ------------------------------------------------------------- job state

    def claim_next(self) -> AnalysisRow | None:
        """Atomically move the oldest queued row to running; ``None`` when the queue is empty."""
        for _ in range(5):
            with self._session.begin() as s:
                # PostgreSQL: lock the row, skipping rows other workers are claiming right now
                # (SQLite ignores FOR UPDATE: its writers are serialised anyway).
                candidate = s.scalar(
                    select(AnalysisRow.id).where(AnalysisRow.status == "queued")
                    .order_by(AnalysisRow.created_at, AnalysisRow.id).limit(1)
                    .with_for_update(skip_locked=True)
                )
                if candidate is None:
                    return None
                now = utcnow()
                claimed = s.execute(
                    update(AnalysisRow)
                    .where(AnalysisRow.id == candidate, AnalysisRow.status == "queued")
                    .values(status="running", stage="starting", progress=0.0, attempts=AnalysisRow.attempts + 1,
                            started_at=now, updated_at=now, error_code=None, error_message=None)
                ).rowcount
            if claimed == 1:
                return self.get(candidate)
        return None

    def set_progress(self, analysis_id: str, stage: str, progress: float) -> None:
        with self._session.begin() as s:
            s.execute(
                update(AnalysisRow).where(AnalysisRow.id == analysis_id, AnalysisRow.status == "running")
                .values(**_fit({"stage": stage}), progress=round(float(progress), 4), updated_at=utcnow())
            )

    def finish(self, analysis_id: str, *, status: JobStatus, result: dict | None, artefacts: dict | None,
               error_code: str | None = None, error_message: str | None = None) -> bool:
        """Store a finished job; False when the row was deleted meanwhile."""
        now = utcnow()
        values: dict[str, Any] = dict(
            status=status, stage="done" if status == "done" else "failed", progress=1.0,
            result=result, artefacts=artefacts, error_code=error_code, error_message=error_message,
            updated_at=now, finished_at=now,
        )
        if result:
            values.update(
                analysis_status=result.get("status"),
                verdict=result.get("verdict"),
                fake_probability=result.get("fake_probability"),
                narrative_engine=(result.get("narrative") or {}).get("engine"),
                kind=(result.get("media") or {}).get("kind"),
            )
        with self._session.begin() as s:
            return s.execute(update(AnalysisRow).where(AnalysisRow.id == analysis_id).values(**_fit(values))).rowcount == 1

    def fail(self, analysis_id: str, code: str, message: str) -> bool:
        return self.finish(analysis_id, status="failed", result=None, artefacts=None, error_code=code, error_message=message)

    def requeue(self, ids: Iterable[str], *, undo_attempt: bool, stage: str | None = None) -> None:
        """Put running rows back in the queue (a graceful stop is not the file's fault; ``stage``
        says what a queued row waits for, e.g. ``waiting_disk``)."""
        ids = list(ids)
        if not ids:
            return
        values: dict[str, Any] = dict(status="queued", stage=stage, progress=0.0, updated_at=utcnow())
        if undo_attempt:
            values["attempts"] = case((AnalysisRow.attempts > 0, AnalysisRow.attempts - 1), else_=0)
        with self._session.begin() as s:
            s.execute(update(AnalysisRow).where(AnalysisRow.id.in_(ids), AnalysisRow.status == "running").values(**values))

    def touch(self, analysis_id: str) -> None:
        """Heartbeat of a running job: its server is alive (see :meth:`recover`)."""
        with self._session.begin() as s:
            s.execute(update(AnalysisRow).where(AnalysisRow.id == analysis_id, AnalysisRow.status == "running")
                      .values(updated_at=utcnow()))

    def next_queued_size(self) -> int | None:
        """Size of the upload the next claim would take (None: nothing queued)."""
        with self._session() as s:
            return s.scalar(select(AnalysisRow.size_bytes).where(AnalysisRow.status == "queued")
                            .order_by(AnalysisRow.created_at, AnalysisRow.id).limit(1))

    def pending_uploads(self) -> tuple[int, int]:
        """``(jobs, bytes of their uploads)`` queued or running: results still to be written."""
        with self._session() as s:
            n, total = s.execute(select(func.count(), func.coalesce(func.sum(AnalysisRow.size_bytes), 0))
                                 .where(AnalysisRow.status.in_(("queued", "running")))).one()
        return int(n), int(total)

    def recover(self, max_attempts: int = MAX_ATTEMPTS, stale_after_s: float | None = None) -> tuple[list[str], list[str]]:
        """Rows left running by a server that stopped are re-queued once; a second
        interruption fails them.

        With ``stale_after_s``, only rows whose server has not written (progress or
        heartbeat, :meth:`touch`) for that long count as interrupted, so a server
        sharing the database with others never takes over their running jobs. Returns
        ``(requeued ids, failed ids)``. Queued rows need nothing: they simply resume.
        """
        requeued, failed = [], []
        query = select(AnalysisRow).where(AnalysisRow.status == "running")
        if stale_after_s is not None:
            query = query.where(AnalysisRow.updated_at < utcnow() - timedelta(seconds=stale_after_s))
        with self._session.begin() as s:
            # Locked (PostgreSQL), so two servers recovering at once do not count one interruption twice.
            for row in s.scalars(query.with_for_update(skip_locked=True)):
                now = utcnow()
                row.updated_at = now
                if row.attempts >= max_attempts:
                    row.status, row.stage, row.finished_at = "failed", "failed", now
                    row.error_code = "interrupted"
                    row.error_message = (
                        "The server stopped twice while analysing this file (interrupted twice), "
                        "so it was not tried again. Submit it again to retry."
                    )
                    failed.append(row.id)
                else:
                    row.status, row.stage, row.progress = "queued", None, 0.0
                    requeued.append(row.id)
        return requeued, failed

    def delete(self, analysis_id: str) -> AnalysisRow | None:
        with self._session.begin() as s:
            row = s.get(AnalysisRow, analysis_id)
            if row is None:
                return None
            s.delete(row)
        return row
