"""Run untrusted-media work in separate processes with memory and time limits.

A :class:`Child` is one long-lived process talking over a pipe, started from a fork
server (never forked from the multi-threaded web server itself). Its target
first applies :func:`apply_limits` (``RLIMIT_AS``), so a decompression bomb or a
decoder bug costs that child, never the server. :class:`ProbePool` keeps a few
children that only identify uploads (``seethrough.media.probe``).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..log import get_logger

log = get_logger(__name__)

#: Modules the fork server imports once, so that a new worker (or a replacement for one
#: that crashed) starts in a fraction of a second instead of re-importing torch.
PRELOAD = ["torch", "seethrough.analysis", "seethrough.media", "seethrough.web.worker"]
_CTX = None
_CTX_LOCK = threading.Lock()


def context():
    """The multiprocessing context for children: a fork server (a clean, single-threaded
    process that has the heavy modules imported) where available, else spawn."""
    global _CTX
    with _CTX_LOCK:
        if _CTX is None:
            if "forkserver" in mp.get_all_start_methods():
                _CTX = mp.get_context("forkserver")
                _CTX.set_forkserver_preload(PRELOAD)
            else:
                _CTX = mp.get_context("spawn")
        return _CTX


class ChildDied(Exception):
    """The child process ended while working; ``str()`` is the plain reason."""

    def __init__(self, reason: str, exitcode: int | None):
        super().__init__(reason)
        self.exitcode = exitcode


class ChildTimeout(Exception):
    """The child did not answer in time (it has been killed)."""


def apply_limits(memory_limit_mb: int) -> None:
    """Cap this process's address space (0 = no cap); called first thing in a child."""
    if memory_limit_mb and memory_limit_mb > 0:
        limit = int(memory_limit_mb) * 1024 * 1024
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard if hard != resource.RLIM_INFINITY else limit))
    # Children must not react to the terminal's Ctrl-C: the server decides when they stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


#: Signals a process raises on itself when it crashes (a decoder bug, a failed allocation in native code).
_CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT}


def oom_kills() -> int | None:
    """How many processes the kernel's out-of-memory killer has ended so far (Linux's
    ``/proc/vmstat`` counts the system's and every cgroup's); None where it is not known."""
    try:
        with open("/proc/vmstat") as fh:
            for line in fh:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def oom_killed_since(before: int | None) -> bool | None:
    """Whether the out-of-memory killer struck since ``before`` (None: cannot tell)."""
    now = oom_kills()
    return None if before is None or now is None else now > before


def death_reason(exitcode: int | None, memory_limit_mb: int, oom_killed: bool | None = None) -> tuple[str, str]:
    """``(error_code, plain message)`` for a child that ended without saying why.

    A crash signal (SIGSEGV, ... SIGABRT, which is also how native code ends when an
    allocation fails under the address-space limit) is the file's doing: ``worker_crashed``
    or ``out_of_memory``. SIGKILL is the kernel's out-of-memory killer only when its count
    went up meanwhile (``oom_killed``; see :func:`oom_kills`); otherwise, like SIGTERM and
    other signals sent from outside, the process was ``killed``: not the file's fault.
    """
    if exitcode == 137:  # a shell's way of saying SIGKILL
        exitcode = -signal.SIGKILL
    if exitcode == -signal.SIGABRT:
        limit = f" (limit {memory_limit_mb} MB)" if memory_limit_mb else ""
        return "out_of_memory", f"The analysis ran out of memory{limit} and was stopped."
    if exitcode == -signal.SIGKILL and oom_killed:
        return "out_of_memory", "The machine ran out of memory during the analysis, and the system stopped it."
    if exitcode is not None and exitcode < 0:
        try:
            sig = signal.Signals(-exitcode)
            name = sig.name
        except ValueError:
            sig, name = None, f"signal {-exitcode}"
        if sig in _CRASH_SIGNALS:
            return "worker_crashed", (f"The media decoder crashed on this file ({name}); the file is probably damaged "
                                      "or malicious.")
        unsure = " (or by the system, short of memory)" if sig == signal.SIGKILL and oom_killed is None else ""
        return "killed", f"The analysis process was stopped from outside the server ({name}){unsure}, not by this file."
    return "worker_crashed", f"The analysis process stopped unexpectedly (exit code {exitcode})."


class Child:
    """One spawn process running ``target(conn, *args)``."""

    def __init__(self, target, args: tuple = (), name: str = "seethrough-child"):
        self._target, self._args, self.name = target, args, name
        self.proc: mp.Process | None = None
        self.conn = None

    def start(self) -> None:
        ctx = context()
        parent, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=self._target, args=(child, *self._args), name=self.name, daemon=True)
        self.proc.start()
        child.close()
        self.conn = parent

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc._popen is not None and self.proc.is_alive()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def send(self, msg: Any) -> None:
        try:
            self.conn.send(msg)
        except (BrokenPipeError, OSError) as exc:
            raise ChildDied("The analysis process is gone.", self._exitcode()) from exc

    def recv(self, timeout: float | None) -> Any:
        """Next message, or :class:`ChildTimeout` / :class:`ChildDied`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
            try:
                if self.conn.poll(wait):
                    return self.conn.recv()
            except (EOFError, OSError) as exc:
                raise ChildDied("The analysis process is gone.", self._exitcode()) from exc
            if not self.alive:
                # Drain anything it managed to send before dying.
                try:
                    if self.conn.poll(0):
                        return self.conn.recv()
                except (EOFError, OSError):
                    pass
                raise ChildDied("The analysis process is gone.", self._exitcode())
            if deadline is not None and time.monotonic() >= deadline:
                raise ChildTimeout()

    def _exitcode(self) -> int | None:
        if self.proc is None:
            return None
        self.proc.join(timeout=2)
        return self.proc.exitcode

    def kill(self) -> None:
        started = self.proc is not None and self.proc._popen is not None
        if started and self.proc.is_alive():
            self.proc.kill()
        if started:
            self.proc.join(timeout=5)
        if self.conn is not None:
            self.conn.close()
        self.proc, self.conn = None, None

    def stop(self, timeout: float = 3.0) -> None:
        """Ask politely, then kill."""
        if self.alive:
            try:
                self.conn.send(("stop",))
                self.proc.join(timeout)
            except (OSError, BrokenPipeError):
                pass
        self.kill()


# --------------------------------------------------------------------- probing


@dataclass
class ProbeResult:
    """What an upload turned out to be, or why it cannot be used."""

    ok: bool
    info: dict | None = None
    error_code: str | None = None  # a seethrough.errors code, or an outcome of the process (probe_killed...)
    message: str | None = None


def _probe_main(conn, memory_limit_mb: int) -> None:
    apply_limits(memory_limit_mb)
    from ..errors import SeethroughError
    from ..media.probe import probe

    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg[0] == "stop":
            return
        _, path, max_bytes = msg
        try:
            info = probe(path, max_bytes=max_bytes).to_dict()
            info.pop("path", None)
            conn.send(ProbeResult(True, info=info))
        except SeethroughError as exc:
            conn.send(ProbeResult(False, error_code=exc.code, message=str(exc)))
        except MemoryError:
            conn.send(ProbeResult(False, error_code="out_of_memory",
                                  message=f"{Path(path).name} needs more memory to open than this server allows."))
        except Exception as exc:  # noqa: BLE001 - any decoder failure is the file's problem
            log.warning("probe of %s failed: %s: %s", Path(path).name, type(exc).__name__, exc)
            conn.send(ProbeResult(False, error_code="corrupt",
                                  message=f"{Path(path).name} cannot be opened as a video or image."))


class ProbePool:
    """A few long-lived probe children; each call gets one to itself."""

    def __init__(self, size: int, memory_limit_mb: int, timeout_s: float):
        self.memory_limit_mb, self.timeout_s = memory_limit_mb, timeout_s
        self._free: list[Child] = []
        self._size = size
        self._sem = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._closed = False
        self.start_error: str | None = None  # why the last child could not start (health reports it)
        self.replaced = 0  # idle children found dead and replaced

    def warm(self) -> None:
        """Start the children now (in a thread) so the first upload does not wait for them."""

        def _start() -> None:
            for _ in range(self._size):
                child = Child(_probe_main, (self.memory_limit_mb,), name="seethrough-probe")
                try:
                    child.start()
                except Exception as exc:  # noqa: BLE001 - probing will retry on demand
                    log.warning("probe process could not start: %s", exc)
                    self.start_error = f"{type(exc).__name__}: {exc}"
                    return
                self._give(child)

        threading.Thread(target=_start, name="seethrough-probe-warm", daemon=True).start()

    def _take(self) -> Child:
        """An idle child that is still alive (dead ones, e.g. killed while idle, are dropped), else a new one."""
        while True:
            with self._lock:
                child = self._free.pop() if self._free else None
            if child is None:
                break
            if child.alive:
                return child
            child.kill()  # reap it
            self.replaced += 1
            log.warning("probe process %s had died while idle; replacing it", child.pid)
        child = Child(_probe_main, (self.memory_limit_mb,), name="seethrough-probe")
        try:
            child.start()
        except Exception as exc:
            self.start_error = f"{type(exc).__name__}: {exc}"
            raise
        self.start_error = None
        return child

    def status(self) -> dict:
        """For /api/health: idle children alive and dead, and whether new ones can start."""
        with self._lock:
            idle = list(self._free)
        alive = sum(c.alive for c in idle)
        return {"size": self._size, "idle": alive, "idle_dead": len(idle) - alive, "replaced": self.replaced,
                "ok": self.start_error is None, **({"error": self.start_error} if self.start_error else {})}

    def _give(self, child: Child) -> None:
        with self._lock:
            if self._closed:
                child.stop()
            else:
                self._free.append(child)

    def probe(self, path: str | Path, max_bytes: int | None) -> ProbeResult:
        """Identify ``path`` by its content in a child; crashes and hangs become a ProbeResult.
        A child killed from outside while it worked (not by the file) is replaced and the file
        tried once more."""
        name = Path(path).name
        with self._sem:
            for attempt in (1, 2):
                child = self._take()
                oom_before = oom_kills()
                try:
                    child.send(("probe", str(path), max_bytes))
                    result = child.recv(self.timeout_s)
                except ChildTimeout:
                    child.kill()
                    return ProbeResult(False, error_code="probe_timeout",
                                       message=f"{name} could not be read within {self.timeout_s:g} s; it is probably "
                                               "damaged.")
                except ChildDied as exc:
                    child.kill()
                    code, msg = death_reason(exc.exitcode, self.memory_limit_mb, oom_killed_since(oom_before))
                    if code == "killed":
                        log.warning("probe process was killed from outside while checking %s (try %d)", name, attempt)
                        if attempt == 1:
                            continue
                        return ProbeResult(False, error_code="probe_killed",
                                           message=f"The check of {name} was interrupted twice (its process was stopped "
                                                   "from outside the server); please send the file again.")
                    if code == "out_of_memory":
                        msg = f"{name} needs more memory to open than this server allows."
                    else:
                        msg = f"{name} crashed the media decoder; the file is probably damaged or malicious."
                    return ProbeResult(False, error_code=code, message=msg)
                self._give(child)
                return result
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            children, self._free = self._free, []
        for c in children:
            c.stop()


def current_rss_mb(pid: int | None = None) -> float | None:
    """Resident memory of a process in MB (Linux), for the health endpoint."""
    try:
        with open(f"/proc/{pid or os.getpid()}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
