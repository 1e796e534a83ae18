"""The results store: one SQLite file (WAL mode) a scan writes to as results arrive.

One row per (content sha256, settings key) in ``results`` with the full analysis JSON;
``paths`` maps every path seen to its content (so one content under two names is one
result and two paths, and unchanged files are not hashed again); ``attempts`` logs every
analysis started, ``scans`` every run. Each result is committed on its own: a killed
scan loses at most the files that were being analysed at that moment.
"""

from __future__ import annotations

import fcntl
import json
import sqlite3
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from ..errors import SeethroughError
from .types import Job, JobResult, ScanSettings

STORE_VERSION = "1"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
    settings_key  TEXT PRIMARY KEY,          -- ScanSettings.key
    settings_json TEXT NOT NULL,             -- frames, min_face, sampling, max_faces, evidence, model_sha256
    created_at    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    sha256           TEXT NOT NULL,          -- content hash of the file
    settings_key     TEXT NOT NULL REFERENCES settings(settings_key),
    status           TEXT NOT NULL CHECK (status IN ('ok', 'no_face', 'error')),
    verdict          TEXT,                   -- real | uncertain | fake (status ok)
    fake_probability REAL,
    method           TEXT,                   -- most likely method when the verdict is not real
    error_code       TEXT,                   -- analyze()'s code, or worker_crashed / timeout / changed_during_scan
    message          TEXT,
    kind             TEXT,                   -- video | image
    size_bytes       INTEGER,
    path             TEXT NOT NULL,          -- the path it was analysed through (all paths: table paths)
    analysis_json    TEXT,                   -- Analysis.to_dict(); NULL when the worker died
    timings_json     TEXT,                   -- analyze()'s timings_ms
    elapsed_s        REAL,                   -- wall time in the worker
    worker           TEXT,                   -- host:pid
    peak_rss_mb      REAL,                   -- the worker's peak resident memory when it finished
    evidence_dir     TEXT,
    attempts         INTEGER NOT NULL DEFAULT 1,
    scan_id          INTEGER,
    finished_at      TEXT NOT NULL,
    PRIMARY KEY (sha256, settings_key)
);
CREATE TABLE IF NOT EXISTS paths (
    path         TEXT PRIMARY KEY,           -- absolute path as given (symlinks not resolved)
    sha256       TEXT NOT NULL,              -- its content when last seen
    size_bytes   INTEGER NOT NULL,
    mtime_ns     INTEGER NOT NULL,           -- with size: reuse the hash while the file is unchanged
    first_seen   TEXT NOT NULL,
    last_seen    TEXT NOT NULL,
    last_scan_id INTEGER
);
CREATE INDEX IF NOT EXISTS paths_by_sha ON paths(sha256);
CREATE TABLE IF NOT EXISTS scans (
    scan_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    settings_key TEXT NOT NULL,
    backend      TEXT NOT NULL,              -- local | ray
    workers      INTEGER NOT NULL,
    inputs_json  TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    state        TEXT NOT NULL,              -- running | complete | interrupted | failed | abandoned (killed)
    summary_json TEXT
);
CREATE TABLE IF NOT EXISTS attempts (
    attempt_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    scan_id      INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    settings_key TEXT NOT NULL,
    path         TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,                       -- NULL: the scan stopped while this file was being analysed
    outcome      TEXT                        -- ok | no_face | error code
);
CREATE INDEX IF NOT EXISTS attempts_by_key ON attempts(sha256, settings_key);
"""

#: Columns of the lightweight export rows (CSV); JSONL adds ``analysis``.
EXPORT_COLUMNS = ("path", "sha256", "status", "verdict", "fake_probability", "method", "error_code", "error",
                  "kind", "elapsed_s", "settings_key", "declared_ai_generated", "c2pa", "camera", "edited_with",
                  "metadata_stripped")
#: Export columns taken from the analysis' provenance block (seethrough.provenance): SQLite JSON paths.
_PROVENANCE_COLUMNS = {"declared_ai_generated": "$.provenance.declared_ai_generated", "c2pa": "$.provenance.c2pa.state",
                       "camera": "$.provenance.camera", "edited_with": "$.provenance.edited_with",
                       "metadata_stripped": "$.provenance.stripped"}


def _provenance_fields(row: sqlite3.Row) -> dict[str, Any]:
    """The export's provenance columns: booleans as true/false, software names joined with '; '."""
    out: dict[str, Any] = {}
    for name in _PROVENANCE_COLUMNS:
        v = row[f"prov_{name}"]
        if name in ("declared_ai_generated", "metadata_stripped") and v is not None:
            v = bool(v)
        elif name == "edited_with" and v is not None:
            v = "; ".join(json.loads(v))
        out[name] = v
    return out


class StoreError(SeethroughError):
    """The results database cannot be used."""

    code = "store"


class StoreLockedError(StoreError):
    """Another scan is writing to the same database."""

    code = "store_locked"


def store_files(path: str | Path) -> list[Path]:
    """The database and the files SQLite and the lock keep beside it (never scanned)."""
    p = Path(path)
    return [p, *(p.with_name(p.name + s) for s in (".lock", "-wal", "-shm", "-journal"))]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ResultStore:
    """Open (and create) the results database.

    ``writer=True`` takes an exclusive lock file (``<db>.lock``) for the lifetime of the
    store, so two scans never write the same database; readers (exports) need no lock.
    """

    def __init__(self, path: str | Path, *, writer: bool = True) -> None:
        self.path = Path(path)
        self._lock_fh = None
        if not writer and not self.path.is_file():
            raise StoreError(f"No results database at {self.path}; run a scan with --out {self.path} first.")
        if writer:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_fh = open(self.lock_path, "a+")
            try:
                fcntl.flock(self._lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._lock_fh.close()
                raise StoreLockedError(
                    f"Another scan is writing to {self.path} (lock {self.lock_path}); wait for it or use another --out."
                ) from None
        try:
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a killed process loses nothing committed
            if writer:
                self.db.executescript(SCHEMA)
                self.db.execute("INSERT OR IGNORE INTO meta VALUES ('store_version', ?)", (STORE_VERSION,))
            version = self.db.execute("SELECT value FROM meta WHERE key='store_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            self.close()
            raise StoreError(f"{self.path} is not a usable seethrough results database: {exc}") from None
        if version is None or version[0] != STORE_VERSION:
            self.close()
            raise StoreError(f"{self.path} was written by another version of seethrough's scan "
                             f"(store version {version[0] if version else 'unknown'}, expected {STORE_VERSION}).")

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")


    def close(self) -> None:
        if getattr(self, "db", None) is not None:
            self.db.close()
            self.db = None
        if self._lock_fh is not None:
            self._lock_fh.close()  # releases the flock
            self._lock_fh = None

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- scans ----------------------------------------------------------------------------

    def open_scan(self, settings: ScanSettings, *, backend: str, workers: int, inputs: list[str]) -> int:
        """Register the settings and a new scan; scans left ``running`` by a killed process become ``abandoned``."""
        now = _now()
        with self._tx() as db:
            db.execute("UPDATE scans SET state='abandoned' WHERE state='running'")
            db.execute("INSERT OR IGNORE INTO settings VALUES (?, ?, ?)",
                       (settings.key, json.dumps(settings.to_dict(), sort_keys=True), now))
            cur = db.execute(
                "INSERT INTO scans (settings_key, backend, workers, inputs_json, started_at, state) "
                "VALUES (?, ?, ?, ?, ?, 'running')",
                (settings.key, backend, workers, json.dumps(inputs), now))
        return int(cur.lastrowid)

    def finish_scan(self, scan_id: int, state: str, summary: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute("UPDATE scans SET state=?, finished_at=?, summary_json=? WHERE scan_id=?",
                       (state, _now(), json.dumps(summary), scan_id))

    def latest_settings_key(self) -> str | None:
        row = self.db.execute("SELECT settings_key FROM scans ORDER BY scan_id DESC LIMIT 1").fetchone()
        return row[0] if row else None

    def settings_of(self, key: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT settings_json FROM settings WHERE settings_key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    # -- paths ----------------------------------------------------------------------------

    def path_cache(self) -> dict[str, tuple[int, int, str]]:
        """``path -> (size_bytes, mtime_ns, sha256)`` as last seen: lets a rescan skip hashing unchanged files."""
        return {r[0]: (r[1], r[2], r[3]) for r in self.db.execute("SELECT path, size_bytes, mtime_ns, sha256 FROM paths")}

    def record_path(self, path: str, sha256: str, size_bytes: int, mtime_ns: int, scan_id: int | None) -> None:
        now = _now()
        with self._tx() as db:
            db.execute(
                "INSERT INTO paths VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET "
                "sha256=excluded.sha256, size_bytes=excluded.size_bytes, mtime_ns=excluded.mtime_ns, "
                "last_seen=excluded.last_seen, last_scan_id=excluded.last_scan_id",
                (path, sha256, size_bytes, mtime_ns, now, now, scan_id))

    def paths_of(self, sha256: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT path FROM paths WHERE sha256=? ORDER BY path", (sha256,))]

    # -- results --------------------------------------------------------------------------

    def lookup(self, sha256: str, settings_key: str) -> sqlite3.Row | None:
        """``status, verdict, error_code, message, path`` of a finished analysis, or None."""
        return self.db.execute(
            "SELECT status, verdict, error_code, message, path FROM results WHERE sha256=? AND settings_key=?",
            (sha256, settings_key)).fetchone()

    def start_attempt(self, scan_id: int, job: Job, settings_key: str) -> int:
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO attempts (scan_id, sha256, settings_key, path, started_at) VALUES (?, ?, ?, ?, ?)",
                (scan_id, job.sha256, settings_key, job.path, _now()))
        return int(cur.lastrowid)

    def save_result(self, attempt_id: int, scan_id: int, settings_key: str, res: JobResult, size_bytes: int) -> None:
        """Write one result (replacing an earlier one for the same key) and close its attempt, atomically."""
        now = _now()
        with self._tx() as db:
            n = db.execute("SELECT COUNT(*) FROM attempts WHERE sha256=? AND settings_key=?",
                           (res.sha256, settings_key)).fetchone()[0]
            db.execute(
                "INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (res.sha256, settings_key, res.status, res.verdict, res.fake_probability, res.method,
                 res.error_code, res.message, res.kind, size_bytes, res.path,
                 json.dumps(res.analysis) if res.analysis is not None else None,
                 json.dumps(res.timings_ms), res.elapsed_s, res.worker, res.peak_rss_mb, res.evidence_dir,
                 max(1, n), scan_id, now))
            db.execute("UPDATE attempts SET finished_at=?, outcome=? WHERE attempt_id=?",
                       (now, res.error_code if res.status == "error" else res.status, attempt_id))

    def count_results(self, settings_key: str | None = None) -> int:
        if settings_key is None:
            return self.db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        return self.db.execute("SELECT COUNT(*) FROM results WHERE settings_key=?", (settings_key,)).fetchone()[0]

    def export_rows(self, settings_key: str, *, with_analysis: bool = False) -> Iterator[dict[str, Any]]:
        """One row per path (sorted) whose content has a result for ``settings_key`` or that a scan
        with these settings saw; ``status`` is ``pending`` for contents not analysed yet (an
        interrupted scan). Streams from the cursor."""
        prov = "".join(f", json_extract(r.analysis_json, '{path}') AS prov_{name}"
                       for name, path in _PROVENANCE_COLUMNS.items())
        cols = "p.path, p.sha256, r.status, r.verdict, r.fake_probability, r.method, r.error_code, r.message, " \
               "r.kind, r.elapsed_s" + prov + (", r.analysis_json" if with_analysis else "")
        cur = self.db.execute(
            f"SELECT {cols} FROM paths p LEFT JOIN results r ON r.sha256 = p.sha256 AND r.settings_key = ? "
            "WHERE r.sha256 IS NOT NULL OR p.last_scan_id IN (SELECT scan_id FROM scans WHERE settings_key = ?) "
            "ORDER BY p.path", (settings_key, settings_key))
        for row in cur:
            out = {
                "path": row["path"],
                "sha256": row["sha256"],
                "status": row["status"] or "pending",
                "verdict": row["verdict"],
                "fake_probability": row["fake_probability"],
                "method": row["method"],
                "error_code": row["error_code"],
                "error": row["message"] if row["status"] != "ok" else None,
                "kind": row["kind"],
                "elapsed_s": row["elapsed_s"],
                "settings_key": settings_key,
                **_provenance_fields(row),
            }
            if with_analysis:
                out["analysis"] = json.loads(row["analysis_json"]) if row["analysis_json"] else None
            yield out

