"""The analysis worker process: load the model once, then analyse one job at a time.

Protocol over the pipe (parent -> child): ``("job", spec)`` or ``("stop",)``.
Child -> parent: ``("ready", model_info)`` or ``("fatal", message)`` once at start, then per
job any number of ``("progress", job_id, stage, fraction)`` and one ``("done", job_id,
outcome)`` or ``("failed", job_id, code, message)``.

:func:`run_job` is the default job runner: it calls :func:`seethrough.analysis.analyze`
(the one flow) and writes the result's files into the job's result folder:
``result.json``, ``frames/<index>.jpg`` (the sampled frames, for the timeline viewer),
``gallery/<rank>-crop.png`` and ``gallery/<rank>-frame.png`` (Grad-CAM evidence), and
``report.html`` / ``report.pdf``.
"""

from __future__ import annotations

import dataclasses
import errno
import importlib
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ..log import get_logger, setup_logging
from .isolation import apply_limits

log = get_logger(__name__)

Progress = Callable[[str, float], None]

#: Share of the progress bar taken by analyze(); the rest is writing the result files.
ANALYSIS_SHARE = 0.85
FRAME_MAX_SIDE = 640

_OOM_MARKERS = ("can't allocate memory", "cannot allocate memory", "bad_alloc", "out of memory")
#: What a job's result folder and scratch folder hold to say which attempt of the job they belong to.
ATTEMPT_FILE = ".attempt"
#: How often a worker looks whether its server is still there (Linux also kills it at once, see watch_server).
SERVER_CHECK_S = 1.0
DISK_FULL_MESSAGE = "The server ran out of disk space while saving this file's results; nothing of them was kept."


class _LastException(logging.Handler):
    """Remembers the last exception logged (analyze() logs unexpected ones before returning)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.exc: BaseException | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.exc = record.exc_info[1]


_last_exc = _LastException()


def is_memory_error(exc: BaseException | None) -> bool:
    if exc is None:
        return False
    if isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    return any(m in text for m in _OOM_MARKERS)


def is_disk_full(exc: BaseException | None) -> bool:
    """True for "no space left on device" (or a full quota), also when another error wraps it."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _server_gone(server_pid: int | None, parent_pid: int) -> bool:
    if os.getppid() != parent_pid:  # the fork server (our parent) ended: its server is gone
        return True
    if not server_pid:
        return False
    try:
        with open(f"/proc/{server_pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
        return state in ("Z", "X")  # killed, not yet reaped by whoever started it
    except FileNotFoundError:
        return True
    except (OSError, IndexError):
        try:
            os.kill(server_pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
        return False


def watch_server(server_pid: int | None) -> None:
    """End this worker, touching no file, as soon as its server is gone (killed, crashed).

    On Linux the kernel kills it when its parent (the fork server, which ends with the
    server) ends (``PR_SET_PDEATHSIG``); everywhere a thread also looks every
    ``SERVER_CHECK_S`` seconds. An orphan must not run on: its server can no longer take its
    result, and the job may already be running again elsewhere.
    """
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            log.debug("PR_SET_PDEATHSIG not available; the worker polls for its server")

    def watch() -> None:
        while True:
            if _server_gone(server_pid, parent):
                log.warning("the server (pid %s) is gone; this worker (pid %d) stops", server_pid, os.getpid())
                os._exit(0)
            time.sleep(SERVER_CHECK_S)

    if _server_gone(server_pid, parent):  # it died before the watch began
        os._exit(0)
    threading.Thread(target=watch, name="seethrough-server-watch", daemon=True).start()


def load_runner(dotted: str) -> Callable:
    module, _, attr = dotted.partition(":")
    return getattr(importlib.import_module(module), attr)


def worker_main(conn, spec: dict) -> None:
    """Entry point of a worker process (spawned by :mod:`seethrough.web.jobs`)."""
    apply_limits(int(spec.get("memory_limit_mb") or 0))
    setup_logging(spec.get("log_level"))
    watch_server(spec.get("server_pid"))
    logging.getLogger("seethrough").addHandler(_last_exc)
    try:
        import torch

        torch.set_num_threads(max(1, int(spec.get("threads") or 1)))
        from ..inference import get_predictor

        predictor = get_predictor(spec.get("model"))
        # ready means ready: the backbone's ONNX session (an export on a checkpoint's first use) is made now,
        # not inside the first job
        log.info("worker %d: the backbone runs on %s", os.getpid(), predictor.runtime)
        from ..report.fonts import Fonts

        Fonts.ensure()  # the reports' fonts (0.3 s to register), also before the first job
        runner = load_runner(spec["runner"])
    except Exception as exc:  # noqa: BLE001 - reported to the parent in words
        log.exception("worker could not start")
        conn.send(("fatal", f"The analysis worker could not start: {exc}"))
        return
    conn.send(("ready", predictor.info))
    memory_limit_mb = int(spec.get("memory_limit_mb") or 0)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg[0] == "stop":
            return
        job = msg[1]
        job_id = job["id"]

        def progress(stage: str, fraction: float, _job: dict = job) -> None:
            if not owns(_job):
                log.warning("job %s is running again elsewhere; this worker stops", _job["id"])
                os._exit(0)
            try:
                conn.send(("progress", _job["id"], stage, float(fraction)))
            except OSError:  # the server is gone: stop here, without touching the job's files
                os._exit(0)

        _last_exc.exc = None
        try:
            outcome = runner(job, predictor, progress)
        except MemoryError:
            _cleanup_partial(job)
            conn.send(("failed", job_id, "out_of_memory", _oom_message(memory_limit_mb)))
            continue
        except Exception as exc:  # noqa: BLE001
            _cleanup_partial(job)
            if is_disk_full(exc):
                log.error("job %s: disk full while saving its results (%s)", job_id, exc)
                conn.send(("failed", job_id, "disk_full", DISK_FULL_MESSAGE))
            elif is_memory_error(exc):
                log.exception("job %s failed", job_id)
                conn.send(("failed", job_id, "out_of_memory", _oom_message(memory_limit_mb)))
            else:
                log.exception("job %s failed", job_id)
                conn.send(("failed", job_id, "internal",
                           "The analysis failed unexpectedly; the details are in the server log."))
            continue
        if outcome.get("error_code") == "internal" and is_disk_full(_last_exc.exc):
            _cleanup_partial(job)
            conn.send(("failed", job_id, "disk_full", DISK_FULL_MESSAGE))
            continue
        if outcome.get("error_code") == "internal" and is_memory_error(_last_exc.exc):
            outcome.update(status="failed", error_code="out_of_memory", error_message=_oom_message(memory_limit_mb))
        conn.send(("done", job_id, outcome))


def _oom_message(limit_mb: int) -> str:
    return f"The analysis ran out of memory (limit {limit_mb} MB) and was stopped." if limit_mb else \
        "The analysis ran out of memory and was stopped."


def _mark(folder: Path, job: dict) -> None:
    folder.mkdir(parents=True)
    if job.get("attempt"):
        (folder / ATTEMPT_FILE).write_text(job["attempt"])


def _belongs(folder: str | Path, job: dict) -> bool:
    """Whether ``folder`` is this attempt's (or no attempt's: nothing there, or no token to compare)."""
    if not job.get("attempt"):
        return True
    try:
        return (Path(folder) / ATTEMPT_FILE).read_text() == job["attempt"]
    except FileNotFoundError:
        return not Path(folder).exists()
    except OSError:
        return False


def owns(job: dict) -> bool:
    """False once another attempt of the same job has taken its result folder (a re-queued job
    running again while this worker, orphaned, ran on)."""
    return _belongs(job["result_dir"], job)


def _remove_own(folder: str | Path, job: dict) -> None:
    if _belongs(folder, job):
        shutil.rmtree(folder, ignore_errors=True)
    else:
        log.warning("%s belongs to another attempt of job %s; left alone", folder, job["id"])


def _cleanup_partial(job: dict) -> None:
    """Remove what this attempt wrote, and nothing another attempt of the job wrote."""
    _remove_own(job["result_dir"], job)
    _remove_own(job["work_dir"], job)


# ----------------------------------------------------------------- the runner


def analyze_options(values: dict) -> Any:
    """AnalyzeOptions from the job's option dict (fields this version does not know are dropped)."""
    from ..analysis import AnalyzeOptions

    known = {f.name for f in dataclasses.fields(AnalyzeOptions)}
    return AnalyzeOptions(**{k: v for k, v in values.items() if k in known})


def run_job(job: dict, predictor, progress: Progress) -> dict:
    """Analyse one upload and write its result files; returns the outcome for the parent.

    ``job``: id, upload_path, name (sanitised display name), options, result_dir, work_dir.
    """
    from ..analysis import analyze

    out, work = Path(job["result_dir"]), Path(job["work_dir"])
    shutil.rmtree(out, ignore_errors=True)  # a new attempt takes over whatever an earlier one left
    shutil.rmtree(work, ignore_errors=True)
    _mark(out, job)
    _mark(work, job)
    # The analysis sees the user's file name (messages say "clip.mp4 is truncated"),
    # through a link to the content-addressed upload.
    link = work / job["name"]
    os.symlink(os.path.abspath(job["upload_path"]), link)
    try:
        opts = dataclasses.replace(analyze_options(job["options"]), keep_frames=True)  # for the frame viewer
        a = analyze(link, predictor=predictor, options=opts,
                    progress=lambda stage, f: progress(stage, ANALYSIS_SHARE * float(f)))
        _hide_server_paths(a, link)
        artefacts: dict[str, Any] = {"frames": [], "gallery": [], "reports": {}, "problems": []}
        if a.status in ("ok", "no_face"):
            progress("frames", 0.87)
            _save_frames(a, out, artefacts)
            gallery = []
            if a.status == "ok":
                progress("gallery", 0.9)
                gallery = _save_gallery(a, out, artefacts)
            _save_reports(a, out, artefacts, gallery, progress)
        text = json.dumps(a.to_dict())
        # Belt and braces: no server path anywhere in the stored document.
        text = text.replace(json.dumps(str(work))[1:-1] + "/", "").replace(json.dumps(str(work))[1:-1], "")
        doc = json.loads(text)
        (out / "result.json").write_text(text)
    finally:
        _remove_own(work, job)
    progress("done", 1.0)
    failed = a.status == "error"
    return {
        "status": "failed" if failed else "done",
        "result": doc,
        "artefacts": artefacts,
        "error_code": a.error_code if failed else None,
        "error_message": a.message if failed else None,
    }


def _hide_server_paths(a, link: Path) -> None:
    """The result names the user's file, never where the server keeps it."""
    a.file["path"] = a.file.get("name") or link.name
    if isinstance(a.media, dict) and "path" in a.media:
        a.media["path"] = link.name


def _save_frames(a, out: Path, artefacts: dict) -> None:
    """The sampled frames (as analyze() decoded them) as JPEGs, so the timeline can show any of them."""
    from PIL import Image

    frames = a.artifacts.frames if a.artifacts else {}
    if not frames:
        artefacts["problems"].append("The frame viewer is unavailable for this file.")
        return
    (out / "frames").mkdir(exist_ok=True)
    for index in sorted(frames):
        Image.fromarray(_fit(frames[index], FRAME_MAX_SIDE)).save(out / "frames" / f"{index}.jpg", quality=85)
        artefacts["frames"].append(int(index))


def _fit(img, max_side: int):
    import cv2

    h, w = img.shape[:2]
    if max(h, w) <= max_side:
        return img
    s = max_side / max(h, w)
    return cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def _save_gallery(a, out: Path, artefacts: dict) -> list:
    """Grad-CAM evidence per key frame: the face crop overlay and the whole-frame overlay."""
    try:
        from ..explain import evidence_gallery, save_gallery

        items = evidence_gallery(a)
    except Exception as exc:  # noqa: BLE001
        if is_disk_full(exc):
            raise
        log.warning("evidence gallery failed: %s: %s", type(exc).__name__, exc)
        artefacts["problems"].append("The heatmap gallery could not be produced for this file.")
        return []
    save_gallery(items, out / "gallery", lambda rank, _item, kind: f"{rank}-{kind}.png")
    for rank, item in enumerate(items):
        artefacts["gallery"].append({
            "rank": rank,
            "index": int(item.index),
            "time_s": float(item.time_s),
            "fake_probability": None if item.fake_probability is None else float(item.fake_probability),
            "top_region": item.top_region,
        })
    return items


def _save_reports(a, out: Path, artefacts: dict, gallery: list, progress: Progress) -> None:
    """The HTML and PDF reports, from one build of their content."""
    progress("report", 0.93)
    paths = {fmt: out / f"report.{fmt}" for fmt in ("html", "pdf")}
    try:
        from ..report import write_reports

        write_reports(a, list(paths.values()), gallery=gallery)
    except Exception as exc:  # noqa: BLE001 - the verdict stands without its reports
        if is_disk_full(exc):
            raise
        log.warning("reports failed: %s: %s", type(exc).__name__, exc)
    for fmt, path in paths.items():
        artefacts["reports"][fmt] = path.is_file()
        if not path.is_file():
            artefacts["problems"].append(f"The {fmt.upper()} report could not be written.")
