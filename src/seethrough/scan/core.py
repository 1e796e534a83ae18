"""The scan driver: find files, hash them, skip what is done, feed the workers, commit
every result the moment it arrives, and sum it all up.

Hashing runs in a thread of the driver while the workers load their models and work,
so it overlaps the analysis (see ``bench/results/scan.md`` for why it is not done in
the workers). Files unchanged since the last scan (same size and mtime) are not hashed
again.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from tqdm.auto import tqdm

from ..errors import ModelError
from ..facts import VERDICTS
from ..log import get_logger
from .inputs import find_inputs, sha256_file
from .runner import Backend, LocalPool, ScanError
from .store import ResultStore, store_files
from .types import Job, JobResult, ScanSettings
from .worker import FAULT_ENV, WorkerSpec

log = get_logger(__name__)

#: Same file as ``seethrough.inference.DEFAULT_CHECKPOINT`` (kept here so the driver never imports torch).
DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "weights" / "default.pt"
#: Hashed files waiting to be dispatched, at most (bounds the driver's memory on huge trees).
_MAX_PENDING = 1000


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@dataclass
class ScanConfig:
    """How to scan. ``frames``, ``min_face``, ``sampling``, ``max_faces``, the model and
    whether evidence is written decide the results (:class:`ScanSettings`); the rest
    only decides how fast and where."""

    db: Path
    checkpoint: Path | None = None  # None: the bundled default model
    frames: int = 32
    min_face: int = 40
    sampling: str = "even"
    max_faces: int = 4
    evidence_dir: Path | None = None  # heatmaps + report.html per ok file; None: scores only
    workers: int = 1
    threads: int | None = None  # math threads per worker; None: CPUs / workers
    timeout_s: float | None = 600.0  # wall-time limit per file
    retry_errors: bool = False  # analyse again files whose earlier result is an error
    ray_address: str | None = None  # None: local processes; "local", "auto" or "ray://host:port"
    device: str = "auto"  # auto | cpu | cuda (Ray actors ask for a GPU when one is present)
    hash_threads: int = 2  # sha256 runs in threads of the driver (hashlib releases the GIL)
    progress: bool = True
    exclude: list[Path] = field(default_factory=list)  # never scanned (export files)
    c2pa_trust: Path | None = None  # PEM trust list for Content Credentials signers (part of the results key)

    def worker_threads(self) -> int:
        return self.threads or max(1, available_cpus() // max(1, self.workers))


@dataclass
class ScanSummary:
    """What one scan did. Verdict/no-face/error counts are over the unique contents of
    this scan's inputs, whether analysed now or found done in the database."""

    db: str
    settings_key: str
    backend: str
    workers: int
    files: int = 0  # paths found
    unique: int = 0  # distinct contents among them
    duplicates: int = 0  # paths whose content another path already brought
    skipped: int = 0  # contents already analysed with these settings (earlier scans)
    analysed: int = 0  # contents analysed by this scan
    pending: int = 0  # contents left for a next run (interrupted)
    verdicts: dict[str, int] = field(default_factory=lambda: {v: 0 for v in VERDICTS})
    no_face: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # error_code -> contents
    missing: list[str] = field(default_factory=list)  # inputs that could not be read (not in the db)
    error_examples: list[dict[str, str]] = field(default_factory=list)  # first errors: path, code, message
    elapsed_s: float = 0.0
    analysis_s: float = 0.0  # from the first dispatch to the last result
    interrupted: bool = False
    worker_stats: dict[str, Any] = field(default_factory=dict)

    @property
    def n_errors(self) -> int:
        return sum(self.errors.values())

    @property
    def files_per_minute(self) -> float:
        return 60.0 * self.analysed / self.analysis_s if self.analysis_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "n_errors": self.n_errors, "files_per_minute": round(self.files_per_minute, 2)}


def scan_settings(cfg: ScanConfig) -> ScanSettings:
    """The results key of ``cfg``: hashes the model file (the driver never loads it)."""
    ckpt = Path(cfg.checkpoint) if cfg.checkpoint else DEFAULT_CHECKPOINT
    if not ckpt.is_file():
        raise ModelError(f"Model file not found: {ckpt}. The default model ships in the package "
                         "(seethrough/weights/default.pt); pass --model to use another checkpoint.")
    return ScanSettings(model_sha256=sha256_file(ckpt), frames=cfg.frames, min_face=cfg.min_face,
                        sampling=cfg.sampling, max_faces=cfg.max_faces, evidence=cfg.evidence_dir is not None,
                        c2pa_trust=str(Path(cfg.c2pa_trust).resolve()) if cfg.c2pa_trust else None)


def _hasher(files: list[str], cache: dict[str, tuple[int, int, str]], out: queue.Queue, stop: threading.Event) -> None:
    """Put ``("file", path, sha256, size, mtime_ns)`` or ``("missing", path, reason)`` per file, then ``("end",)``."""
    try:
        for path in files:
            if stop.is_set():
                return
            try:
                st = os.stat(path)
                known = cache.get(path)
                if known and known[0] == st.st_size and known[1] == st.st_mtime_ns:
                    sha = known[2]
                else:
                    sha = sha256_file(path)
                item: tuple = ("file", path, sha, st.st_size, st.st_mtime_ns)
            except OSError as exc:
                item = ("missing", path, exc.strerror or str(exc))
            while not stop.is_set():
                try:
                    out.put(item, timeout=0.2)
                    break
                except queue.Full:
                    continue
    finally:
        out.put(("end",))


class _Scan:
    """One run of the driver loop; :func:`run_scan` is the public entry."""

    def __init__(self, cfg: ScanConfig, store: ResultStore, settings: ScanSettings, backend: Backend,
                 files: list[str], summary: ScanSummary) -> None:
        self.cfg, self.store, self.settings, self.backend = cfg, store, settings, backend
        self.key = settings.key
        self.files = files
        self.summary = summary
        self.pending: deque[Job] = deque()
        self.state: dict[str, str] = {}  # sha256 -> queued | running | done (this scan)
        self.attempt_of: dict[str, int] = {}
        self.size_of: dict[str, int] = {}
        self.first_dispatch: float | None = None
        self.last_result: float | None = None
        self.hash_q: queue.Queue = queue.Queue(maxsize=4 * _MAX_PENDING)
        self.stop = threading.Event()
        self.hashers = max(1, min(cfg.hash_threads, len(files)))
        self.hashers_done = 0
        self.taken = 0  # paths taken from the hashing thread
        self.started = False  # workers started
        self.bar = tqdm(total=len(files), desc="scanning", unit="file", disable=not cfg.progress,
                        dynamic_ncols=True, smoothing=0.1)

    # -- bookkeeping ----------------------------------------------------------------------

    def _count(self, status: str, verdict: str | None, code: str | None, path: str, message: str | None) -> None:
        s = self.summary
        if status == "ok" and verdict in s.verdicts:
            s.verdicts[verdict] += 1
        elif status == "no_face":
            s.no_face += 1
        else:
            s.errors[code or "error"] = s.errors.get(code or "error", 0) + 1
            if len(s.error_examples) < 20:
                s.error_examples.append({"path": path, "code": code or "error", "message": message or ""})

    def _postfix(self) -> None:
        s = self.summary
        self.bar.set_postfix_str(f"fake {s.verdicts['fake']} err {s.n_errors} skip {s.skipped}", refresh=False)

    def _take_hashed(self) -> None:
        """Move hashed files from the hashing thread into the dispatch queue (or skip them)."""
        while len(self.pending) < _MAX_PENDING:
            try:
                item = self.hash_q.get_nowait()
            except queue.Empty:
                return
            if item[0] == "end":
                self.hashers_done += 1
                continue
            self.taken += 1
            if item[0] == "missing":
                _, path, reason = item
                log.warning("cannot read %s: %s", path, reason)
                self.summary.missing.append(path)
                self.bar.update(1)
                continue
            _, path, sha, size, mtime = item
            self.store.record_path(path, sha, size, mtime, self.scan_id)
            if sha in self.state:
                self.summary.duplicates += 1
                self.bar.update(1)
                continue
            self.summary.unique += 1
            done = self.store.lookup(sha, self.key)
            if done is not None and not (self.cfg.retry_errors and done["status"] == "error"):
                self.state[sha] = "done"
                self.summary.skipped += 1
                self._count(done["status"], done["verdict"], done["error_code"], path, done["message"])
                self.bar.update(1)
                self._postfix()
                continue
            self.state[sha] = "queued"
            self.size_of[sha] = size
            self.pending.append(Job(sha, path, size))

    def _dispatch(self) -> None:
        if self.pending and not self.started:  # lazily: a rescan with nothing new loads no model
            self.backend.start()
            self.started = True
        while self.pending and self.backend.free() > 0:
            job = self.pending.popleft()
            self.attempt_of[job.sha256] = self.store.start_attempt(self.scan_id, job, self.key)
            self.backend.submit(job)
            self.state[job.sha256] = "running"
            if self.first_dispatch is None:
                self.first_dispatch = time.perf_counter()

    def _commit(self, res: JobResult) -> None:
        self.store.save_result(self.attempt_of.pop(res.sha256), self.scan_id, self.key, res, self.size_of.get(res.sha256, 0))
        self.state[res.sha256] = "done"
        self.summary.analysed += 1
        self.last_result = time.perf_counter()
        self._count(res.status, res.verdict, res.error_code, res.path, res.message)
        self.bar.update(1)
        self._postfix()

    @property
    def hashing_done(self) -> bool:
        return self.hashers_done >= self.hashers

    # -- the loop -------------------------------------------------------------------------

    def run(self, scan_id: int) -> None:
        self.scan_id = scan_id
        cache = self.store.path_cache()
        for i in range(self.hashers):  # striped: thread i hashes files i, i + n, i + 2n, ...
            threading.Thread(target=_hasher, args=(self.files[i::self.hashers], cache, self.hash_q, self.stop),
                             name=f"seethrough-scan-hash-{i}", daemon=True).start()
        try:
            while True:
                self._take_hashed()
                self._dispatch()
                if self.hashing_done and not self.pending and self.backend.busy() == 0:
                    break
                if not self.started:
                    time.sleep(0.02)  # waiting for the hashing thread
                    continue
                for res in self.backend.poll(0.05 if not self.hashing_done else 0.5):
                    self._commit(res)
        finally:
            self.stop.set()
            self.bar.close()

    def finish_counts(self) -> None:
        s = self.summary
        s.pending = sum(1 for st in self.state.values() if st != "done") + len(self.files) - self.taken
        if self.first_dispatch is not None and self.last_result is not None:
            s.analysis_s = round(self.last_result - self.first_dispatch, 3)


def make_backend(cfg: ScanConfig, spec: WorkerSpec) -> Backend:
    if cfg.ray_address:
        from .ray_runner import RayPool

        return RayPool(spec, cfg.workers, address=cfg.ray_address, timeout_s=cfg.timeout_s)
    return LocalPool(spec, cfg.workers, timeout_s=cfg.timeout_s)


def run_scan(inputs: Iterable[str | Path], cfg: ScanConfig) -> ScanSummary:
    """Analyse every media file of ``inputs`` once per content into ``cfg.db``.

    Resumable: contents already in the database with the same settings are skipped; a
    run that is killed loses only the files in flight. On Ctrl-C the workers are
    stopped, the summary says ``interrupted`` and nothing half-done is recorded.
    Raises :class:`ScanError`, :class:`~seethrough.errors.ModelError` or a store error
    when the scan cannot run at all; bad files never raise.
    """
    t0 = time.perf_counter()
    inputs = [str(i) for i in inputs]
    settings = scan_settings(cfg)
    exclude = [*store_files(cfg.db), *cfg.exclude, *([cfg.evidence_dir] if cfg.evidence_dir else [])]
    found = find_inputs(inputs, exclude=exclude)
    store = ResultStore(cfg.db)
    try:
        spec = WorkerSpec(settings=settings, checkpoint=str(cfg.checkpoint) if cfg.checkpoint else None,
                          evidence_dir=str(Path(cfg.evidence_dir).resolve()) if cfg.evidence_dir else None,
                          threads=cfg.worker_threads(), device=cfg.device,
                          fault=os.environ.get(FAULT_ENV))
        backend = make_backend(cfg, spec)
        summary = ScanSummary(db=str(cfg.db), settings_key=settings.key, backend=backend.name,
                              workers=backend.workers, files=len(found.files) + len(found.missing),
                              missing=list(found.missing))
        scan_id = store.open_scan(settings, backend=backend.name, workers=backend.workers, inputs=inputs)
        log.info("scan %d: %d files, settings %s, %s backend with %d workers", scan_id, len(found.files),
                 settings.key, backend.name, backend.workers)
        job = _Scan(cfg, store, settings, backend, found.files, summary)
        state = "failed"
        try:
            job.run(scan_id)
            state = "complete"
        except KeyboardInterrupt:
            state, summary.interrupted = "interrupted", True
            log.warning("scan interrupted; files in flight will be redone next time")
        finally:
            backend_stats = _safe_close(backend, kill=state != "complete")
            summary.worker_stats = backend_stats
            job.finish_counts()
            summary.elapsed_s = round(time.perf_counter() - t0, 3)
            store.finish_scan(scan_id, state, summary.to_dict())
        return summary
    finally:
        store.close()


def _safe_close(backend: Backend, kill: bool) -> dict[str, Any]:
    stats: dict[str, Any] = {}
    try:
        stats = backend.stats()
    finally:
        try:
            backend.close(kill=kill)
        except Exception:  # noqa: BLE001 - closing must not hide the real outcome
            log.exception("stopping the workers failed")
    return stats


__all__ = ["ScanConfig", "ScanSummary", "ScanError", "run_scan", "scan_settings", "available_cpus"]
