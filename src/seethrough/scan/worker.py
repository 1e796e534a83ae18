"""The work done for one file, identical in a local worker process and in a Ray actor:
load the model once, then ``analyze()`` file after file (and write evidence when asked)."""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import ModelError
from ..log import get_logger
from .types import CHANGED, Job, JobResult, ScanSettings

log = get_logger(__name__)

#: Test-only fault injection, e.g. ``crash:bad_;hang:stuck_;sleep:0.5``: a worker kills
#: itself (SIGKILL) on files whose name contains ``bad_``, never returns on ``stuck_``, and
#: sleeps 0.5 s before every file. Read by the driver and handed to the workers.
FAULT_ENV = "SEETHROUGH_SCAN_FAULT"


@dataclass(frozen=True)
class WorkerSpec:
    """How to build a worker: settings, model file, evidence folder, threads, device."""

    settings: ScanSettings
    checkpoint: str | None = None  # None: the bundled default model
    evidence_dir: str | None = None
    threads: int = 1
    device: str = "cpu"  # cpu | cuda | auto
    log_level: str | None = None
    fault: str | None = None  # see FAULT_ENV
    warmup: bool = True  # analyse a generated face once at start (lazy loads not charged to the first file)


def evidence_folder(root: str | Path, sha256: str) -> Path:
    """``ROOT/<sha256[:2]>/<sha256>``: where one content's evidence lives."""
    return Path(root) / sha256[:2] / sha256


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def set_threads(threads: int) -> None:
    """Bound the math libraries of this process to ``threads`` (workers share the CPU)."""
    import torch

    threads = max(1, int(threads))
    torch.set_num_threads(threads)
    try:
        import cv2

        cv2.setNumThreads(threads)
    except ImportError:  # pragma: no cover - cv2 is a dependency
        pass


def _parse_fault(spec: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in (spec or "").split(";"):
        kind, _, arg = part.partition(":")
        if kind.strip() and arg:
            out[kind.strip()] = arg
    return out


def _resolve_device(device: str) -> str:
    if device != "auto":
        return device
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except Exception:  # noqa: BLE001
        return "cpu"


class ScanWorker:
    """Holds one :class:`~seethrough.inference.Predictor` and analyses jobs with it."""

    def __init__(self, spec: WorkerSpec) -> None:
        from ..inference import get_predictor

        set_threads(spec.threads)
        self.spec = spec
        self.options = replace(spec.settings.analyze_options(), threads=spec.threads)
        self.fault = _parse_fault(spec.fault)
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        device = _resolve_device(spec.device)
        self.predictor = get_predictor(spec.checkpoint) if device == "cpu" else self._on_device(device)
        if self.predictor.sha256 != spec.settings.model_sha256:
            raise ModelError(
                f"The model file {self.predictor.path} changed since the scan started "
                f"(sha256 {self.predictor.sha256[:12]} instead of {spec.settings.model_sha256[:12]}); start the scan again."
            )
        if spec.warmup and self.predictor.device == "cpu":
            self._warmup()
        log.debug("scan worker %s ready (%s, %d threads)", self.name, self.device, spec.threads)

    def _on_device(self, device: str):
        """A predictor on ``device`` if a whole warm-up analysis works there; else the CPU one (with a warning)."""
        from ..inference import Predictor, get_predictor

        try:
            self.predictor = Predictor(self.spec.checkpoint, device=device)
            a = self._warmup()
            if a.status == "error":
                raise RuntimeError(a.message)
            return self.predictor
        except Exception as exc:  # noqa: BLE001 - fall back, but say so
            log.warning("the model cannot run on %s (%s: %s); using the CPU", device, type(exc).__name__, exc)
            return get_predictor(self.spec.checkpoint)

    def _warmup(self):
        """Run the whole flow once on a small generated face clip: loads the face detector,
        the landmark model and the decoders and sets the model up for full batches, so
        per-file times and time limits are fair to the first file."""
        import tempfile

        from ..analysis import analyze
        from ..testing import make_face_video

        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="seethrough-warmup-") as tmp:
            n = max(2, min(self.options.frames, 2 * self.predictor.chunk))
            clip = make_face_video(Path(tmp) / "warmup.mp4", n_frames=n, size=(320, 240))
            a = analyze(clip, predictor=self.predictor, options=self.options)
        log.debug("warm-up: %s in %.2f s", a.status, time.perf_counter() - t0)
        return a

    @property
    def device(self) -> str:
        return str(getattr(self.predictor, "device", "cpu"))

    def describe(self) -> dict[str, Any]:
        return {"worker": self.name, "device": self.device, "threads": self.spec.threads, "peak_rss_mb": peak_rss_mb()}

    def _inject_fault(self, job: Job) -> None:
        if not self.fault:
            return
        name = Path(job.path).name
        if "sleep" in self.fault:
            time.sleep(float(self.fault["sleep"]))
        if "crash" in self.fault and self.fault["crash"] in name:
            os.kill(os.getpid(), 9)
        if "hang" in self.fault and self.fault["hang"] in name:
            while True:
                time.sleep(60)

    def run(self, job: Job) -> JobResult:
        """Analyse one file; never raises (a failure is a result with status ``error``)."""
        from ..analysis import analyze

        t0 = time.perf_counter()
        self._inject_fault(job)
        try:
            # analyze() hashes the file again: that is what catches a file changed since the driver hashed it.
            a = analyze(job.path, predictor=self.predictor, options=self.options)
        except Exception as exc:  # analyze() does not raise; belt and braces for a batch of thousands
            log.exception("analysis of %s failed", job.path)
            return JobResult.failure(job, "internal", f"Analysis failed unexpectedly ({type(exc).__name__}).",
                                     elapsed_s=time.perf_counter() - t0, worker=self.name)
        doc = a.to_dict()
        res = JobResult(
            sha256=job.sha256,
            path=job.path,
            status=a.status,
            error_code=a.error_code,
            message=a.message,
            verdict=a.verdict,
            fake_probability=a.fake_probability,
            method=(a.method or {}).get("predicted") if a.verdict and a.verdict != "real" else None,
            kind=(a.media or {}).get("kind"),
            analysis=doc,
            timings_ms=dict(a.timings_ms),
            worker=self.name,
        )
        seen = a.file.get("sha256")
        if seen and seen != job.sha256:
            res.status, res.error_code = "error", CHANGED
            res.message = f"{Path(job.path).name} changed while the scan was running; scan it again."
            res.verdict = res.fake_probability = res.method = None
        if self.spec.evidence_dir and res.status == "ok":
            try:
                res.evidence_dir = str(write_evidence(a, evidence_folder(self.spec.evidence_dir, job.sha256)))
            except Exception as exc:  # noqa: BLE001 - the scores are still good
                log.warning("could not write the evidence of %s: %s", job.path, exc)
                res.evidence_error = f"{type(exc).__name__}: {exc}"
        res.elapsed_s = round(time.perf_counter() - t0, 4)
        res.peak_rss_mb = peak_rss_mb()
        return res


def write_evidence(a: Any, folder: Path) -> Path:
    """Heatmap PNGs, ``report.html`` and ``analysis.json`` for one analysis, written to a
    temporary folder first and renamed into place (a crash never leaves half a folder)."""
    from ..explain import evidence_gallery, save_gallery

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    gallery = evidence_gallery(a)
    save_gallery(gallery, tmp, lambda rank, item, kind: f"{rank:02d}_frame{item.index:06d}_{kind}.png")
    (tmp / "analysis.json").write_text(json.dumps(a.to_dict(), indent=1), encoding="utf-8")
    try:
        from ..report import write_report
    except ImportError:  # pragma: no cover - the report package ships with seethrough
        log.warning("seethrough.report is not available; no HTML report written")
    else:
        write_report(a, tmp / "report.html", gallery=gallery)
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)
    return folder
