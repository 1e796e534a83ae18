"""Typed records shared by the scan driver, its workers and the results store."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ..facts import AnalysisStatus

Status = AnalysisStatus  # defined once, in facts

#: Error codes the scan itself produces (the others come from ``analyze()``).
WORKER_CRASHED = "worker_crashed"
TIMEOUT = "timeout"
CHANGED = "changed_during_scan"


@dataclass(frozen=True)
class ScanSettings:
    """Everything that decides an analysis result. Part of the results key: a file is
    analysed once per (content, settings); other settings analyse it again."""

    model_sha256: str
    frames: int = 32
    min_face: int = 40
    sampling: str = "even"
    max_faces: int = 4
    evidence: bool = False  # explanations (Grad-CAM, key frames, narrative) or scores only
    c2pa_trust: str | None = None  # PEM trust list for Content Credentials signers (None: no trust list)

    @property
    def key(self) -> str:
        """A short stable id of these settings (16 hex digits); without a trust list it is the key
        earlier versions gave, so their databases resume."""
        fields = {k: v for k, v in asdict(self).items() if not (k == "c2pa_trust" and v is None)}
        blob = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def analyze_options(self):
        """The :class:`~seethrough.analysis.AnalyzeOptions` a worker passes to ``analyze()``."""
        from ..analysis import AnalyzeOptions

        return AnalyzeOptions(
            frames=self.frames,
            sampling=self.sampling,  # type: ignore[arg-type]
            min_face=self.min_face,
            max_faces=self.max_faces,
            explain=self.evidence,
            narrator="template" if self.evidence else None,
            c2pa_trust=self.c2pa_trust,
        )


@dataclass(frozen=True)
class Job:
    """One unique content to analyse, reached through ``path``."""

    sha256: str
    path: str
    size_bytes: int = 0


@dataclass
class JobResult:
    """What a worker sends back for one job; one row of the results store."""

    sha256: str
    path: str
    status: Status
    error_code: str | None = None
    message: str | None = None
    verdict: str | None = None
    fake_probability: float | None = None
    method: str | None = None  # most likely manipulation method when the verdict is not "real"
    kind: str | None = None  # "video" | "image" when the file could be probed
    analysis: dict[str, Any] | None = None  # Analysis.to_dict(); None when the worker died
    timings_ms: dict[str, float] = field(default_factory=dict)
    elapsed_s: float = 0.0  # wall time in the worker, evidence included
    worker: str = ""  # host:pid
    peak_rss_mb: float | None = None  # the worker process's peak resident memory so far
    evidence_dir: str | None = None
    evidence_error: str | None = None

    @classmethod
    def failure(cls, job: Job, code: str, message: str, *, elapsed_s: float = 0.0, worker: str = "") -> "JobResult":
        return cls(sha256=job.sha256, path=job.path, status="error", error_code=code, message=message,
                   elapsed_s=elapsed_s, worker=worker)

    @classmethod
    def timed_out(cls, job: Job, limit_s: float, elapsed_s: float) -> "JobResult":
        return cls.failure(job, TIMEOUT, f"The analysis took longer than the limit of {limit_s:g} s "
                           "(--timeout) and was stopped.", elapsed_s=elapsed_s)


def note_peak(peaks: dict[str, float], res: "JobResult") -> None:
    """Keep the highest resident memory each worker reported."""
    if res.peak_rss_mb is not None:
        peaks[res.worker] = max(peaks.get(res.worker, 0.0), res.peak_rss_mb)
