"""Admission control for uploads: per-client rate, queue length and free disk.

Checked before a request body is read, so a refused upload costs the server nothing:

* **rate**: a token bucket per client address, ``submit_per_minute`` files a minute
  with bursts up to ``submit_burst`` (429 with ``Retry-After``);
* **queue**: at most ``max_queued`` analyses waiting for a worker (503 with
  ``Retry-After``), so a flood of uploads cannot grow the backlog without bound;
* **size**: a declared ``Content-Length`` beyond what the size limit allows gets 413 first;
  requests that are not uploads may carry at most ``SMALL_BODY_BYTES`` (enforced in the app);
* **disk**: the data folder must keep ``min_free_mb`` free after the upload *and* the results
  of every job not yet finished, this one included (:func:`expected_result_bytes`), so a
  full disk refuses new files instead of failing the jobs it has taken (507). A worker
  takes the next job only while its results fit above the reserve (:func:`job_fits`).

Behind a reverse proxy every request comes from the proxy's address; rate-limit there.
"""

from __future__ import annotations

import math
import shutil
import threading
import time
from collections import OrderedDict
from pathlib import Path

from fastapi import HTTPException

MAX_CLIENTS = 10_000  # buckets kept; the least recently seen are forgotten first


class RateLimiter:
    """Token bucket per key: refills ``per_minute`` tokens a minute up to ``burst``."""

    def __init__(self, per_minute: float, burst: int, clock=time.monotonic):
        self.rate = per_minute / 60.0
        self.burst = max(1, int(burst))
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def _level(self, key: str, now: float) -> float:
        """Tokens in ``key``'s bucket at ``now`` (call with the lock held)."""
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - last) * self.rate)

    def _wait_for(self, tokens: float, n: int) -> float:
        return 0.0 if tokens >= n else (n - tokens) / self.rate

    def wait(self, key: str, n: int = 1) -> float:
        """Seconds until ``n`` tokens are there for ``key`` (0.0: now), taking nothing."""
        if not self.enabled:
            return 0.0
        with self._lock:
            return self._wait_for(self._level(key, self.clock()), n)

    def take(self, key: str, n: int = 1) -> float:
        """Take ``n`` tokens: 0.0 when allowed, else the seconds until they would be there
        (nothing is taken then). ``n`` beyond the burst can never pass: its wait is inf."""
        if not self.enabled:
            return 0.0
        if n > self.burst:
            return math.inf
        now = self.clock()
        with self._lock:
            tokens = self._level(key, now)
            wait = self._wait_for(tokens, n)
            if wait == 0.0:
                tokens -= n
            self._buckets.pop(key, None)
            self._buckets[key] = (tokens, now)  # last: the most recently seen
            while len(self._buckets) > MAX_CLIENTS:
                self._buckets.popitem(last=False)
        return wait


def client_address(request) -> str:
    """The key a client is limited by: its address as the server sees it."""
    return request.client.host if request.client else "unknown"


def refuse(status: int, code: str, message: str, retry_after: float | None = None) -> HTTPException:
    headers = {"Retry-After": str(max(1, math.ceil(retry_after)))} if retry_after is not None else None
    return HTTPException(status_code=status, detail={"code": code, "message": message}, headers=headers)


def check_rate(limiter: RateLimiter, client: str, n: int = 1) -> None:
    wait = limiter.take(client, n)
    if wait == 0.0:
        return
    if math.isinf(wait):
        raise refuse(429, "rate_limited", f"{n} files in one request is more than this server accepts at once "
                                           f"({limiter.burst}); send them in smaller batches.")
    raise refuse(429, "rate_limited", f"Too many uploads from your address: wait {math.ceil(wait)} s and try again.",
                  retry_after=wait)


def check_queue(queued: int, max_queued: int) -> None:
    if max_queued and queued >= max_queued:
        raise refuse(503, "queue_full", f"The server already has {queued} analyses waiting; try again in a minute.",
                      retry_after=60)


#: Room for the multipart framing and form fields around the files of one upload request.
MULTIPART_OVERHEAD = 1_000_000
#: The most a request that is not an upload may carry (a JSON token, a form of a few fields).
SMALL_BODY_BYTES = 16_384


def check_declared_size(declared_bytes: int, max_file_bytes: int, max_files: int) -> None:
    """413 when the declared ``Content-Length`` cannot fit ``max_files`` files of the size limit."""
    if max_file_bytes and declared_bytes > max_file_bytes * max(1, max_files) + MULTIPART_OVERHEAD:
        per = f"{max_file_bytes / 1e6:g} MB"
        raise refuse(413, "too_large", f"The upload ({declared_bytes / 1e6:,.0f} MB) is larger than this server "
                                       f"takes ({max(1, max_files)} file(s) of at most {per} each).")


#: What one job writes into the data folder (frames, heatmaps, HTML and PDF reports), as a base plus
#: a share of the upload. Measured with the bundled model and 32 frames: a photo of 32 kB wrote
#: 1.8 MB, a 640x480 clip of 0.4 MB 7.4 MB, a 1080p clip of 3.1 MB 5.6 MB.
RESULT_BASE_BYTES = 8_000_000
RESULT_BYTES_PER_UPLOAD_BYTE = 1.0


def expected_result_bytes(upload_bytes: int, jobs: int = 1) -> int:
    """Disk that ``jobs`` jobs with ``upload_bytes`` of uploads between them will write."""
    return int(jobs * RESULT_BASE_BYTES + RESULT_BYTES_PER_UPLOAD_BYTE * upload_bytes)


def disk_status(data_dir: Path, min_free_mb: int) -> dict:
    """Free space of the data folder against the reserve uploads must leave (for /api/health)."""
    free = shutil.disk_usage(data_dir).free
    return {"free_mb": round(free / 1e6), "reserve_mb": min_free_mb, "ok": free >= min_free_mb * 1_000_000}


def check_disk(data_dir: Path, incoming_bytes: int, min_free_mb: int, pending: tuple[int, int] = (0, 0)) -> None:
    """507 unless ``data_dir`` keeps ``min_free_mb`` free after ``incoming_bytes`` more, the results
    they will make, and the results of the ``pending`` ``(jobs, upload bytes)`` not finished yet."""
    if not min_free_mb:
        return
    free = shutil.disk_usage(data_dir).free
    need = incoming_bytes + expected_result_bytes(incoming_bytes) + expected_result_bytes(pending[1], pending[0])
    if free - need < min_free_mb * 1_000_000:
        raise refuse(507, "disk_full", "The server is short of disk space and cannot take new files right now; "
                                        "try again later or ask its administrator to free space.")


def job_fits(data_dir: Path, upload_bytes: int, min_free_mb: int) -> bool:
    """Whether a job on an upload of ``upload_bytes`` can write its results and leave the reserve."""
    return shutil.disk_usage(data_dir).free - expected_result_bytes(upload_bytes) >= min_free_mb * 1_000_000
