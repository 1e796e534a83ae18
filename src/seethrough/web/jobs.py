"""The job queue: the database is the queue, worker processes do the analysis.

Each of ``settings.workers`` supervisor threads owns one worker process
(:func:`seethrough.web.worker.worker_main`, spawned, model loaded once). A supervisor
claims the oldest queued row, hands it to its worker, records progress, enforces the
per-job wall-time limit and stores the outcome. A worker that dies (segfault, out of
memory) or overruns fails only its job, with a plain reason, and is replaced. What is not
the file's fault (a worker killed from outside, a disk that filled up while the results were
written) re-queues the job once; a worker takes a job only while its results fit on the
disk above the reserve, so a job re-queued for a full disk waits until there is space.
Workers end with their server (see :func:`seethrough.web.worker.watch_server`).

On start, rows left ``running`` by a previous server are re-queued once (a second
interruption fails them); queued rows simply resume. On a graceful stop, running jobs
go back to the queue without counting the attempt.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from ..log import get_logger
from .isolation import Child, ChildDied, ChildTimeout, current_rss_mb, death_reason, oom_kills, oom_killed_since
from .limits import job_fits
from .settings import WebSettings
from .store import MAX_ATTEMPTS, AnalysisRow, Store
from .worker import worker_main

log = get_logger(__name__)

PROGRESS_WRITE_INTERVAL_S = 0.2
STORE_RETRY_S = 2.0  # wait before trying the database again after an error
STALE_PART_S = 600.0  # a partial upload nobody wrote to for this long belongs to a dead server
DISK_WAIT_S = 5.0  # how often a worker waiting for disk space looks again
#: Failures that are not the file's fault: the job runs once more (``MAX_ATTEMPTS``), and a second
#: time fails it with the reason and this.
RETRIED = {
    "killed": "It happened twice, so the file was not tried again; submit it again to retry.",
    "disk_full": "It happened twice, so the file was not tried again; submit it again once the server has space.",
}


class _Stopping(Exception):
    pass


class _Cancelled(Exception):
    pass


class Supervisor(threading.Thread):
    """One worker process and the loop that feeds it jobs."""

    def __init__(self, manager: JobManager, slot: int):
        super().__init__(name=f"seethrough-supervisor-{slot}", daemon=True)
        self.manager, self.slot = manager, slot
        self.child: Child | None = None
        self.ready = False
        self.model_info: dict | None = None
        self.start_error: str | None = None
        self.current_job: str | None = None
        self.jobs_done = 0
        self.restarts = 0
        self.waiting_disk = False

    # ------------------------------------------------------------ worker life

    def _spec(self) -> dict[str, Any]:
        s = self.manager.settings
        return {
            "model": str(s.model) if s.model else None,
            "memory_limit_mb": s.memory_limit_mb,
            "runner": s.job_runner,
            "threads": max(1, (os.cpu_count() or 1) // s.workers),
            "log_level": None,
            "server_pid": os.getpid(),  # the worker ends when this process is gone
        }

    def _ensure_worker(self) -> bool:
        """Start the worker if needed and wait for its model; False (with start_error) on failure."""
        if self.child is not None and self.child.alive and self.ready:
            return True
        self._drop_worker()
        self.child = Child(worker_main, (self._spec(),), name=f"seethrough-worker-{self.slot}")
        try:
            self.child.start()
        except Exception as exc:  # noqa: BLE001 - e.g. no process can be spawned
            log.exception("worker %d could not be spawned", self.slot)
            self.start_error = f"The analysis worker could not be started ({type(exc).__name__})."
            self.child = None
            return False
        deadline = time.monotonic() + self.manager.settings.worker_start_timeout_s
        while True:
            if self.manager.stopping.is_set():
                raise _Stopping()
            try:
                msg = self.child.recv(timeout=min(1.0, max(0.0, deadline - time.monotonic())))
            except ChildTimeout:
                if time.monotonic() < deadline:
                    continue
                self.start_error = "The analysis worker did not start in time."
                self._drop_worker()
                return False
            except ChildDied as exc:
                self.start_error = f"The analysis worker stopped while starting (exit code {exc.exitcode})."
                self._drop_worker()
                return False
            if msg[0] == "ready":
                self.ready, self.model_info, self.start_error = True, msg[1], None
                log.info("worker %d ready (pid %s, model %s)", self.slot, self.child.pid, msg[1].get("name"))
                return True
            if msg[0] == "fatal":
                self.start_error = msg[1]
                self._drop_worker()
                return False

    def _drop_worker(self) -> None:
        if self.child is not None:
            self.child.kill()
        self.child, self.ready = None, False

    # ------------------------------------------------------------------ loop

    def run(self) -> None:
        m = self.manager
        try:
            self._ensure_worker()  # load the model before the first job arrives
            while not m.stopping.is_set():
                try:
                    if not self._disk_has_room():
                        m.wait_for_work(DISK_WAIT_S)
                        continue
                    row = m.store.claim_next()
                except Exception:  # noqa: BLE001 - e.g. the database server is restarting
                    log.exception("supervisor %d cannot claim a job; retrying in %.0f s", self.slot, STORE_RETRY_S)
                    m.stopping.wait(STORE_RETRY_S)
                    continue
                if row is None:
                    m.wait_for_work(1.0)
                    continue
                self.current_job = row.id
                try:
                    self._run_one(row)
                except _Stopping:
                    raise
                except Exception:  # noqa: BLE001 - one job's trouble must not end the supervisor
                    log.exception("supervisor %d: unexpected error on job %s", self.slot, row.id)
                    self._fail_after_error(row.id)
                finally:
                    self.current_job = None
                    # the worker removes its scratch folder; a killed or stopped one leaves it behind
                    shutil.rmtree(m.settings.work_dir / row.id, ignore_errors=True)
        except _Stopping:
            pass
        except Exception:  # noqa: BLE001 - a supervisor must never die silently
            log.exception("supervisor %d stopped on an unexpected error", self.slot)
        finally:
            if self.child is not None:
                self.child.stop()
            self.child, self.ready = None, False

    def _disk_has_room(self) -> bool:
        """Whether the next queued job's results fit on the disk above the reserve (logged once per wait)."""
        s = self.manager.settings
        size = self.manager.store.next_queued_size()
        fits = size is None or job_fits(s.data_dir, size, s.min_free_mb)
        if not fits and not self.waiting_disk:
            log.warning("worker %d waits for disk space: the next job's results would not fit above the %d MB "
                        "reserve of %s", self.slot, s.min_free_mb, s.data_dir)
        elif fits and self.waiting_disk:
            log.info("worker %d: disk space is back; taking jobs again", self.slot)
        self.waiting_disk = not fits
        return fits

    def _retry_or_fail(self, row: AnalysisRow, code: str, message: str) -> None:
        """A failure that is not the file's fault: re-queue the job once, then fail it for good."""
        m = self.manager
        m.remove_results(row.id)
        if row.attempts < MAX_ATTEMPTS:
            log.warning("job %s: %s; re-queued (run %d of %d)", row.id, message, row.attempts, MAX_ATTEMPTS)
            m.store.requeue([row.id], undo_attempt=False, stage="waiting_disk" if code == "disk_full" else None)
            m.notify()
        else:
            m.store.fail(row.id, code, f"{message} {RETRIED[code]}")

    def _run_one(self, row: AnalysisRow) -> None:
        m, s = self.manager, self.manager.settings
        oom_before = oom_kills()
        timeout = float(s.job_timeout_s)
        last_write, last_stage = time.monotonic(), None
        beat_every = float(s.lease_s) / 4
        try:
            if not self._ensure_worker() and not self._ensure_worker():
                m.store.fail(row.id, "worker_unavailable", self.start_error or "The analysis worker could not start.")
                return
            self._heartbeat(row.id)  # starting a replacement worker may have taken a while
            last_write = time.monotonic()
            self.child.send(("job", m.job_spec(row)))
            deadline = time.monotonic() + timeout
            while True:
                if m.stopping.is_set():
                    raise _Stopping()
                if row.id in m.cancelled:
                    raise _Cancelled()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ChildTimeout()
                if time.monotonic() - last_write >= beat_every:
                    last_write = time.monotonic()
                    self._heartbeat(row.id)
                try:
                    msg = self.child.recv(timeout=min(remaining, 0.5))
                except ChildTimeout:
                    if time.monotonic() >= deadline:
                        raise
                    continue
                kind = msg[0]
                if kind == "progress":
                    _, _, stage, frac = msg
                    now = time.monotonic()
                    if stage != last_stage or now - last_write >= PROGRESS_WRITE_INTERVAL_S:
                        m.store.set_progress(row.id, stage, frac)
                        last_write, last_stage = now, stage
                elif kind == "done":
                    self._store_outcome(row, msg[2])
                    return
                elif kind == "failed":
                    _, _, code, message = msg
                    if code in RETRIED:
                        self._retry_or_fail(row, code, message)
                        return
                    m.remove_results(row.id)  # first: a job reads "failed" only once its results are gone
                    m.store.fail(row.id, code, message)
                    return
        except ChildTimeout:
            log.warning("job %s exceeded %.0f s; killing worker %d", row.id, timeout, self.slot)
            self._drop_worker()
            self.restarts += 1
            m.remove_results(row.id)
            m.store.fail(row.id, "timeout", f"The file took longer than {timeout:g} s to analyse, so the analysis was stopped.")
        except ChildDied as exc:
            code, message = death_reason(exc.exitcode, s.memory_limit_mb, oom_killed_since(oom_before))
            log.warning("worker %d died on job %s (exit code %s: %s)", self.slot, row.id, exc.exitcode, code)
            self._drop_worker()
            self.restarts += 1
            if code in RETRIED:
                self._retry_or_fail(row, code, message)
                return
            m.remove_results(row.id)
            m.store.fail(row.id, code, message)
        except _Cancelled:  # deleted while running: stop the work, keep nothing
            log.info("job %s deleted while running; worker %d stopped", row.id, self.slot)
            self._drop_worker()
            m.remove_results(row.id)
        except _Stopping:
            self._drop_worker()
            m.store.requeue([row.id], undo_attempt=True)
            raise
        finally:
            m.cancelled.discard(row.id)

    def _heartbeat(self, analysis_id: str) -> None:
        try:
            self.manager.store.touch(analysis_id)
        except Exception:  # noqa: BLE001 - a missed beat is not worth failing the job
            log.warning("heartbeat of job %s not written (database unreachable?)", analysis_id, exc_info=True)

    def _fail_after_error(self, analysis_id: str) -> None:
        """Mark a job failed after an unexpected error (e.g. the database refused its result).
        If even that cannot be written, the row stays "running" and is re-queued once its
        lease runs out (see :meth:`JobManager.recover`)."""
        m = self.manager
        try:
            m.remove_results(analysis_id)
            m.store.fail(analysis_id, "internal", "The server hit an unexpected problem while handling this file; "
                                                  "please submit it again.")
        except Exception:  # noqa: BLE001
            log.exception("could not mark job %s failed; it is re-queued when its lease runs out", analysis_id)

    def _store_outcome(self, row: AnalysisRow, outcome: dict) -> None:
        m = self.manager
        stored = m.store.finish(
            row.id,
            status=outcome["status"],
            result=outcome.get("result"),
            artefacts=outcome.get("artefacts"),
            error_code=outcome.get("error_code"),
            error_message=outcome.get("error_message"),
        )
        self.jobs_done += 1
        if not stored:  # deleted while it ran
            m.remove_results(row.id)
        log.info("job %s %s (%s)", row.id, outcome["status"], (outcome.get("result") or {}).get("verdict"))


class JobManager:
    """Owns the supervisors; the web app calls :meth:`start`, :meth:`notify` and :meth:`stop`."""

    def __init__(self, settings: WebSettings, store: Store):
        self.settings, self.store = settings, store
        self.stopping = threading.Event()
        self._work = threading.Condition()
        self.supervisors: list[Supervisor] = []
        self.cancelled: set[str] = set()  # ids deleted while running (or about to run)
        self.recovered: tuple[list[str], list[str]] = ([], [])
        self._janitor: threading.Thread | None = None

    def start(self) -> None:
        self.recovered = self.recover()
        self.sweep_leftovers()
        self.supervisors = [Supervisor(self, i) for i in range(self.settings.workers)]
        for sup in self.supervisors:
            sup.start()
        self._janitor = threading.Thread(target=self._watch_leases, name="seethrough-leases", daemon=True)
        self._janitor.start()

    def recover(self) -> tuple[list[str], list[str]]:
        """Re-queue (or fail, the second time) running jobs whose server stopped beating:
        this one before a restart, or another server on the same database."""
        requeued, failed = self.store.recover(stale_after_s=self.settings.lease_s)
        if requeued or failed:
            log.info("%d interrupted job(s) re-queued, %d failed (interrupted twice)", len(requeued), len(failed))
        for rid in failed:
            self.remove_results(rid)
        if requeued:
            self.notify()
        return requeued, failed

    def sweep_leftovers(self) -> tuple[int, int]:
        """At start-up: remove partial uploads (``tmp/*.part``) no one has written to for
        ``STALE_PART_S`` (a server killed mid-upload), and scratch folders (``work/<id>``) of
        jobs that are not running. Returns (parts, folders) removed."""
        s, now = self.settings, time.time()
        parts = 0
        for p in s.tmp_dir.glob("*.part"):
            try:
                if now - p.stat().st_mtime > STALE_PART_S:
                    p.unlink()
                    parts += 1
            except OSError:
                continue
        folders = 0
        for d in s.work_dir.iterdir() if s.work_dir.is_dir() else ():
            row = self.store.get(d.name)
            if row is None or row.status != "running":
                if d.is_dir() and not d.is_symlink():
                    shutil.rmtree(d, ignore_errors=True)
                else:
                    d.unlink(missing_ok=True)
                folders += 1
        if parts or folders:
            log.info("removed %d partial upload(s) and %d scratch folder(s) left by an earlier run", parts, folders)
        return parts, folders

    def _watch_leases(self) -> None:
        while not self.stopping.wait(self.settings.lease_s / 4):
            try:
                self.recover()
            except Exception:  # noqa: BLE001 - e.g. the database is restarting; try again next round
                log.warning("could not look for interrupted jobs", exc_info=True)

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self.notify()
        for sup in self.supervisors:
            sup.join(timeout)
        if self._janitor is not None:
            self._janitor.join(timeout)

    def cancel(self, analysis_id: str) -> bool:
        """Stop the job ``analysis_id`` if a worker runs it, or is just taking it (its worker
        is replaced). Returns whether a worker had it at the time of the call."""
        self.cancelled.add(analysis_id)  # also seen by a supervisor that claimed it a moment ago
        return any(sup.current_job == analysis_id for sup in self.supervisors)

    def notify(self) -> None:
        with self._work:
            self._work.notify_all()

    def wait_for_work(self, timeout: float) -> None:
        with self._work:
            self._work.wait(timeout)

    def job_spec(self, row: AnalysisRow) -> dict[str, Any]:
        s = self.settings
        return {
            "id": row.id,
            "name": Path(row.name).name or "upload",
            "upload_path": str((s.data_dir / row.stored_path).resolve()),
            "options": row.options,
            "result_dir": str(self.result_dir(row.id)),
            "work_dir": str((s.work_dir / row.id).resolve()),
            # Which run of the job this is: a worker left over from an earlier run never touches this run's files.
            "attempt": f"{row.attempts}-{uuid.uuid4().hex[:12]}",
        }

    def result_dir(self, analysis_id: str) -> Path:
        return (self.settings.results_dir / analysis_id).resolve()

    def remove_results(self, analysis_id: str) -> None:
        shutil.rmtree(self.result_dir(analysis_id), ignore_errors=True)

    def health(self) -> dict[str, Any]:
        sups = self.supervisors
        info = next((s.model_info for s in sups if s.model_info), None)
        errors = sorted({s.start_error for s in sups if s.start_error})
        return {
            "configured": self.settings.workers,
            "ready": sum(1 for s in sups if s.ready),
            "busy": sum(1 for s in sups if s.current_job),
            "waiting_for_disk": sum(1 for s in sups if s.waiting_disk),
            "restarts": sum(s.restarts for s in sups),
            "errors": errors,
            "rss_mb": [round(current_rss_mb(s.child.pid) or 0) if s.child and s.child.alive else None for s in sups],
            "model": info,
        }
