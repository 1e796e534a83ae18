"""Local backend: N spawned worker processes, each loading the model once.

Every worker talks to the driver over its own pipe and analyses one file at a time, so
the driver always knows which file a worker holds: a worker that dies (a decoder crash,
the OOM killer) or overruns the per-file time limit is killed and replaced, and only
that file is recorded as an error. The pool never raises for a bad file.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol

from ..errors import SeethroughError
from ..log import get_logger, setup_logging
from .types import WORKER_CRASHED, Job, JobResult, note_peak
from .worker import ScanWorker, WorkerSpec

log = get_logger(__name__)

# Workers are forked from a fork server that imported the heavy modules once and never
# ran them (no threads to inherit): a worker starts in a fraction of a spawn's time, and
# replacing a crashed one is cheap.
_CTX = mp.get_context("forkserver")
_PRELOAD = ["seethrough.scan.worker", "seethrough.analysis", "seethrough.inference", "seethrough.models",
            "seethrough.faces", "seethrough.media"]
#: Workers that die before they are ready this many times in a row stop the scan.
MAX_START_FAILURES = 3


class ScanError(SeethroughError):
    """The scan cannot go on (workers cannot start, the cluster is unreachable)."""

    code = "scan_error"


class Backend(Protocol):
    """What the scan driver needs from a pool of workers (local processes or Ray actors)."""

    name: str
    workers: int

    def start(self) -> None: ...
    def free(self) -> int: ...  # workers ready and idle
    def busy(self) -> int: ...  # jobs in flight
    def submit(self, job: Job) -> None: ...
    def poll(self, timeout: float) -> list[JobResult]: ...  # finished jobs, failures included
    def stats(self) -> dict[str, Any]: ...
    def close(self, kill: bool = False) -> None: ...


def worker_main(conn: Connection, spec: WorkerSpec) -> None:
    """Entry point of a worker process: load the model, then answer jobs until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver decides when workers stop
    setup_logging(spec.log_level or "WARNING")
    try:
        worker = ScanWorker(spec)
    except Exception as exc:  # noqa: BLE001 - reported to the driver in words
        log.exception("scan worker could not start")
        conn.send(("fatal", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", worker.describe()))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):  # the driver is gone
            return
        if job is None:
            return
        result = worker.run(job)
        try:
            conn.send(("result", result))
        except (BrokenPipeError, OSError):
            return


def how_it_ended(exitcode: int | None) -> str:
    """``"was killed by SIGKILL (out of memory?)"``, ``"exited with code 1"``..."""
    if exitcode is not None and exitcode < 0:
        try:
            how = f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            how = f"was killed by signal {-exitcode}"
    else:
        how = f"exited with code {exitcode}"
    return how + (" (out of memory?)" if exitcode == -signal.SIGKILL else "")


def death_message(exitcode: int | None) -> str:
    return f"The worker process {how_it_ended(exitcode)} while analysing this file; the file may crash the decoder."


@dataclass
class _Slot:
    proc: Any
    conn: Connection
    born: float
    ready: bool = False
    job: Job | None = None
    started: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


class LocalPool:
    """``workers`` spawned processes; ``timeout_s`` is the wall-time limit per file (None: none)."""

    name = "local"

    def __init__(self, spec: WorkerSpec, workers: int, *, timeout_s: float | None = None,
                 start_timeout_s: float = 600.0) -> None:
        self.spec = spec
        self.workers = max(1, int(workers))
        self.timeout_s = timeout_s
        self.start_timeout_s = start_timeout_s
        self.slots: list[_Slot] = []
        self.start_failures = 0
        self.restarts = 0
        self.peak_rss_mb: dict[str, float] = {}

    def _spawn(self) -> _Slot:
        parent, child = _CTX.Pipe()
        proc = _CTX.Process(target=worker_main, args=(child, self.spec), name="seethrough-scan-worker", daemon=True)
        # Children inherit an ignored SIGINT from the start, so a Ctrl-C during their
        # start-up does not print tracebacks: the driver stops them.
        main = threading.current_thread() is threading.main_thread()
        old = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            proc.start()
        finally:
            if main:
                signal.signal(signal.SIGINT, old)
        child.close()
        return _Slot(proc, parent, time.monotonic())

    def start(self) -> None:
        _CTX.set_forkserver_preload(_PRELOAD)  # only the first start of the fork server reads it
        self.slots = [self._spawn() for _ in range(self.workers)]

    def free(self) -> int:
        return sum(1 for s in self.slots if s.ready and s.job is None)

    def busy(self) -> int:
        return sum(1 for s in self.slots if s.job is not None)

    def submit(self, job: Job) -> None:
        slot = next(s for s in self.slots if s.ready and s.job is None)
        slot.conn.send(job)
        slot.job, slot.started = job, time.monotonic()

    def _replace(self, slot: _Slot) -> None:
        self._stop(slot, kill=True)
        self.slots[self.slots.index(slot)] = self._spawn()
        self.restarts += 1

    def _read(self, slot: _Slot, out: list[JobResult]) -> bool:
        """Take every message waiting on ``slot``'s pipe; False when the pipe is closed."""
        try:
            while slot.conn.poll():
                kind, payload = slot.conn.recv()
                if kind == "ready":
                    slot.ready, slot.info = True, payload
                    self.start_failures = 0
                elif kind == "result":
                    note_peak(self.peak_rss_mb, payload)
                    out.append(payload)
                    slot.job = None
                elif kind == "fatal":
                    raise ScanError(f"The scan workers cannot start: {payload}")
        except (EOFError, OSError):
            return False
        return True

    def poll(self, timeout: float) -> list[JobResult]:
        out: list[JobResult] = []
        now = time.monotonic()
        deadlines = [s.started + self.timeout_s - now for s in self.slots if s.job is not None and self.timeout_s]
        wait_s = max(0.0, min([timeout, *deadlines]))
        waitables = [s.conn for s in self.slots] + [s.proc.sentinel for s in self.slots]
        wait(waitables, timeout=wait_s)
        now = time.monotonic()
        for slot in list(self.slots):
            alive = self._read(slot, out) and slot.proc.is_alive()
            if not alive:
                self._read(slot, out)  # a result sent just before dying still counts
                slot.proc.join(timeout=1)
                if slot.job is not None:
                    log.warning("worker died on %s (exit code %s)", slot.job.path, slot.proc.exitcode)
                    out.append(JobResult.failure(slot.job, WORKER_CRASHED, death_message(slot.proc.exitcode),
                                                 elapsed_s=now - slot.started))
                    slot.job = None
                elif not slot.ready:
                    self.start_failures += 1
                    if self.start_failures >= MAX_START_FAILURES:
                        raise ScanError(f"The scan workers keep dying while they load the model: the last one "
                                        f"{how_it_ended(slot.proc.exitcode)}; see the messages above.")
                self._replace(slot)
            elif slot.job is not None and self.timeout_s and now - slot.started > self.timeout_s:
                log.warning("%s took longer than %.0f s; worker killed", slot.job.path, self.timeout_s)
                out.append(JobResult.timed_out(slot.job, self.timeout_s, now - slot.started))
                slot.job = None
                self._replace(slot)
            elif not slot.ready and now - slot.born > self.start_timeout_s:
                raise ScanError(f"A scan worker did not load the model within {self.start_timeout_s:.0f} s.")
        return out

    def stats(self) -> dict[str, Any]:
        return {"restarts": self.restarts, "peak_rss_mb": dict(self.peak_rss_mb),
                "devices": sorted({s.info.get("device", "?") for s in self.slots if s.ready})}

    def _stop(self, slot: _Slot, kill: bool) -> None:
        if not kill and slot.proc.is_alive():
            try:
                slot.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            slot.proc.join(timeout=5)
        if slot.proc.is_alive():
            slot.proc.kill()
            slot.proc.join(timeout=5)
        slot.conn.close()

    def close(self, kill: bool = False) -> None:
        """Stop every worker: politely (finish nothing new, exit) or, with ``kill``, at once."""
        for slot in self.slots:
            self._stop(slot, kill=kill or slot.job is not None)
        self.slots = []
