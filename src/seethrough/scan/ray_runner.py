"""Ray backend: the same scan on a Ray cluster (or a local Ray instance).

One actor per worker, each holding one model (a :class:`~seethrough.scan.worker.ScanWorker`),
asking for a GPU when the cluster has them. Results travel back to the driver, which
writes the same SQLite store as a local scan, so resuming and exports are identical.
The media paths (and the evidence folder) must be readable by the actors: on a real
cluster, a shared file system.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from ..log import get_logger
from .runner import ScanError
from .types import WORKER_CRASHED, Job, JobResult, note_peak
from .worker import ScanWorker, WorkerSpec

log = get_logger(__name__)


class ScanActor:
    """Body of a Ray actor: one model, one file at a time."""

    def __init__(self, spec: WorkerSpec) -> None:
        from ..log import setup_logging

        setup_logging(spec.log_level or "WARNING")
        self.worker = ScanWorker(spec)

    def ready(self) -> dict[str, Any]:
        return self.worker.describe()

    def run(self, job: Job) -> JobResult:
        return self.worker.run(job)


@dataclass
class _Actor:
    handle: Any
    ready_ref: Any
    born: float
    ready: bool = False
    job: Job | None = None
    ref: Any = None
    started: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


def _ray():
    try:
        import ray
    except ImportError:
        raise ScanError("--ray-address needs Ray: pip install 'seethrough[cluster]' (or pip install ray).") from None
    return ray


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


class RayPool:
    """``workers`` Ray actors. ``address``: ``local`` (start a Ray instance here with
    ``workers * threads`` CPUs), ``auto`` (the cluster this machine belongs to) or
    ``ray://host:port``. An already initialised Ray connection is used as it is."""

    name = "ray"

    def __init__(self, spec: WorkerSpec, workers: int, *, address: str = "local", timeout_s: float | None = None,
                 start_timeout_s: float = 600.0) -> None:
        self.spec = spec
        self.workers = max(1, int(workers))
        self.address = address
        self.timeout_s = timeout_s
        self.start_timeout_s = start_timeout_s
        self.actors: list[_Actor] = []
        self.owns_ray = False
        self.restarts = 0
        self.peak_rss_mb: dict[str, float] = {}
        self._cls: Any = None

    def start(self) -> None:
        ray = _ray()
        if not ray.is_initialized():
            try:
                if self.address == "local":
                    ray.init(num_cpus=self.workers * self.spec.threads, include_dashboard=False,
                             log_to_driver=False, configure_logging=False)
                else:
                    ray.init(address=self.address, log_to_driver=False, configure_logging=False)
            except Exception as exc:  # noqa: BLE001 - connection problems in words
                raise ScanError(f"Cannot start or reach Ray at {self.address!r}: {_reason(exc)}") from None
            self.owns_ray = True
        resources = ray.cluster_resources()
        gpus = float(resources.get("GPU", 0))
        use_gpu = self.spec.device in ("auto", "cuda") and gpus > 0
        if self.spec.device == "cuda" and not use_gpu:
            log.warning("--device cuda but the Ray cluster has no GPU; the actors use the CPU")
        num_gpus = min(1.0, gpus / self.workers) if use_gpu else 0
        self.spec = replace(self.spec, device="cuda" if use_gpu else "cpu")
        cpus = float(resources.get("CPU", 0))
        if cpus and cpus < self.workers * self.spec.threads:
            log.warning("the Ray cluster has %g CPUs for %d actors x %d threads; some actors may wait",
                        cpus, self.workers, self.spec.threads)
        self._cls = ray.remote(num_cpus=self.spec.threads, num_gpus=num_gpus, max_restarts=0)(ScanActor)
        log.info("Ray: %d actors, %d CPU(s)%s each", self.workers, self.spec.threads,
                 f" and {num_gpus:g} GPU" if num_gpus else "")
        self.actors = [self._new_actor() for _ in range(self.workers)]

    def _new_actor(self) -> _Actor:
        handle = self._cls.remote(self.spec)
        return _Actor(handle, handle.ready.remote(), time.monotonic())

    def free(self) -> int:
        return sum(1 for a in self.actors if a.ready and a.job is None)

    def busy(self) -> int:
        return sum(1 for a in self.actors if a.job is not None)

    def submit(self, job: Job) -> None:
        actor = next(a for a in self.actors if a.ready and a.job is None)
        actor.ref = actor.handle.run.remote(job)
        actor.job, actor.started = job, time.monotonic()

    def _replace(self, actor: _Actor) -> None:
        _ray().kill(actor.handle, no_restart=True)
        self.actors[self.actors.index(actor)] = self._new_actor()
        self.restarts += 1

    def poll(self, timeout: float) -> list[JobResult]:
        ray = _ray()
        from ray.exceptions import GetTimeoutError, RayActorError

        out: list[JobResult] = []
        refs = [a.ref if a.job is not None else a.ready_ref for a in self.actors if a.job is not None or not a.ready]
        now = time.monotonic()
        deadlines = [a.started + self.timeout_s - now for a in self.actors if a.job is not None and self.timeout_s]
        wait_s = max(0.0, min([timeout, *deadlines]))
        if not refs:
            time.sleep(wait_s)
            return out
        done, _ = ray.wait(refs, num_returns=1, timeout=wait_s)
        if done:  # collect everything else that is finished too
            done, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        done_ids = {r.hex() for r in done}
        now = time.monotonic()
        for actor in list(self.actors):
            if not actor.ready and actor.ready_ref.hex() in done_ids:
                try:
                    actor.info, actor.ready = ray.get(actor.ready_ref), True
                except RayActorError as exc:
                    raise ScanError(f"The scan actors cannot start: {_reason(exc)}") from None
            elif actor.job is not None and actor.ref.hex() in done_ids:
                job, actor.job = actor.job, None
                try:
                    res: JobResult = ray.get(actor.ref, timeout=60)
                except RayActorError as exc:
                    log.warning("actor died on %s: %s", job.path, _reason(exc))
                    out.append(JobResult.failure(
                        job, WORKER_CRASHED, "The Ray actor died while analysing this file; the file may crash "
                        "the decoder, or the node ran out of memory.", elapsed_s=now - actor.started))
                    self._replace(actor)
                    continue
                except GetTimeoutError:  # pragma: no cover - a finished ref is fetched at once
                    res = JobResult.failure(job, "internal", "The result could not be fetched from the cluster.")
                except Exception as exc:  # noqa: BLE001 - a task error: the worker raised
                    res = JobResult.failure(job, "internal", f"Analysis failed unexpectedly: {_reason(exc)}")
                note_peak(self.peak_rss_mb, res)
                out.append(res)
            elif actor.job is not None and self.timeout_s and now - actor.started > self.timeout_s:
                log.warning("%s took longer than %.0f s; actor killed", actor.job.path, self.timeout_s)
                out.append(JobResult.timed_out(actor.job, self.timeout_s, now - actor.started))
                actor.job = None
                self._replace(actor)
            elif not actor.ready and now - actor.born > self.start_timeout_s:
                raise ScanError(f"A Ray actor did not start within {self.start_timeout_s:.0f} s "
                                "(not enough free CPUs/GPUs in the cluster?).")
        return out

    def stats(self) -> dict[str, Any]:
        return {"restarts": self.restarts, "peak_rss_mb": dict(self.peak_rss_mb),
                "devices": sorted({a.info.get("device", "?") for a in self.actors if a.ready})}

    def close(self, kill: bool = False) -> None:
        """Kill the actors (they hold nothing worth finishing) and the Ray instance if this pool started it."""
        if not self.actors and not self.owns_ray:
            return
        ray = _ray()
        for actor in self.actors:
            try:
                ray.kill(actor.handle, no_restart=True)
            except Exception:  # noqa: BLE001
                pass
        self.actors = []
        if self.owns_ray:
            ray.shutdown()
            self.owns_ray = False
