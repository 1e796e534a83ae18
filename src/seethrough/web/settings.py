"""Settings of the web app, from the environment and the ``seethrough serve`` options.

Environment variables (all optional):

``SEETHROUGH_DATA``            data folder (database, uploads, results); default ``./.seethrough/web``
``DATABASE_URL``               SQLAlchemy URL; default SQLite in the data folder (PostgreSQL works too)
``SEETHROUGH_MAX_UPLOAD_MB``   largest accepted file, in MB (default 500)
``SEETHROUGH_WORKERS``         analysis worker processes (default 1)
``SEETHROUGH_TOKEN``           API token; required when the server listens beyond loopback
``SEETHROUGH_JOB_TIMEOUT``     seconds one analysis may take before it is stopped (default 600)
``SEETHROUGH_MEMORY_LIMIT_MB`` address-space limit of each worker process, in MB (default 8192; 0 = none)
``SEETHROUGH_MODEL``           checkpoint to use instead of the bundled model
``SEETHROUGH_NARRATOR``        narrator engine passed to analyze() (default ``template``)
``SEETHROUGH_SUBMIT_PER_MIN``  files one client address may upload a minute (default 60, bursts of 60; 0 = no limit)
``SEETHROUGH_MAX_QUEUED``      analyses allowed to wait for a worker before uploads get 503 (default 500; 0 = no limit)
``SEETHROUGH_MIN_FREE_MB``     free disk the data folder must keep after an upload and the results of unfinished jobs, in MB (default 256; 0 = no check)
``SEETHROUGH_LEASE_S``         seconds without a heartbeat after which a running job counts as interrupted (default 60)
``SEETHROUGH_C2PA_TRUST``      PEM file of root certificates whose Content Credentials signers are trusted (default: none)
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, model_validator

from ..facts import WEB_DATA_DIR, sqlite_url

from ..errors import ConfigError

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and the usual names of the local host."""
    host = host.strip().strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class WebSettings(BaseModel):
    """Everything the server needs to know; build with :meth:`from_env` or directly."""

    model_config = {"validate_assignment": True}

    data_dir: Path = Path(WEB_DATA_DIR)
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    max_upload_bytes: int = Field(500_000_000, ge=1)
    max_files_per_request: int = Field(20, ge=1)
    workers: int = Field(1, ge=1, le=32)
    token: str | None = None
    job_timeout_s: float = Field(600.0, gt=0)
    memory_limit_mb: int = Field(8192, ge=0)
    model: Path | None = None
    frames: int = Field(32, ge=1, le=256)
    min_face: int = Field(40, ge=8)
    narrator: str = "template"
    narrator_model: str | None = None
    c2pa_trust: Path | None = None  # PEM trust list for Content Credentials signers (none: not in a trust list)
    probe_timeout_s: float = Field(30.0, gt=0)
    probe_workers: int = Field(2, ge=1, le=8)
    worker_start_timeout_s: float = Field(180.0, gt=0)
    submit_per_minute: float = Field(60.0, ge=0)
    submit_burst: int = Field(60, ge=1)
    max_queued: int = Field(500, ge=0)
    min_free_mb: int = Field(256, ge=0)
    # A running job whose server has not written for this long (it beats every lease/4)
    # is taken as interrupted and re-queued by any server on the same database.
    lease_s: float = Field(60.0, ge=1)
    # Wrong API tokens one client address may send a minute before it is locked out (429).
    auth_failures_per_minute: float = Field(10.0, ge=1)
    # Dotted path of the function a worker runs per job (tests swap in failing runners).
    job_runner: str = "seethrough.web.worker:run_job"

    @model_validator(mode="after")
    def _usable_trust_list(self) -> WebSettings:
        if self.c2pa_trust is not None:
            from ..provenance import TrustListError, load_trust_list

            try:
                load_trust_list(self.c2pa_trust)
            except TrustListError as exc:
                raise ConfigError(f"{exc} (--c2pa-trust / SEETHROUGH_C2PA_TRUST)") from None
        return self

    @model_validator(mode="after")
    def _token_beyond_loopback(self) -> WebSettings:
        if self.token is not None and not self.token.strip():
            self.token = None
        if not is_loopback(self.host) and not self.token:
            raise ConfigError(
                f"Listening on {self.host} makes the server reachable from other machines; "
                "set an API token (--token or SEETHROUGH_TOKEN) or use --host 127.0.0.1."
            )
        return self

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> WebSettings:
        """Settings from ``env`` (default ``os.environ``); keyword overrides that are not None win."""
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        mapping = {
            "SEETHROUGH_DATA": "data_dir",
            "DATABASE_URL": "database_url",
            "SEETHROUGH_WORKERS": "workers",
            "SEETHROUGH_TOKEN": "token",
            "SEETHROUGH_JOB_TIMEOUT": "job_timeout_s",
            "SEETHROUGH_MEMORY_LIMIT_MB": "memory_limit_mb",
            "SEETHROUGH_MODEL": "model",
            "SEETHROUGH_NARRATOR": "narrator",
            "SEETHROUGH_SUBMIT_PER_MIN": "submit_per_minute",
            "SEETHROUGH_MAX_QUEUED": "max_queued",
            "SEETHROUGH_MIN_FREE_MB": "min_free_mb",
            "SEETHROUGH_LEASE_S": "lease_s",
            "SEETHROUGH_C2PA_TRUST": "c2pa_trust",
        }
        for var, name in mapping.items():
            if env.get(var):
                values[name] = env[var]
        if env.get("SEETHROUGH_MAX_UPLOAD_MB"):
            values["max_upload_bytes"] = int(float(env["SEETHROUGH_MAX_UPLOAD_MB"]) * 1_000_000)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    # ------------------------------------------------------------------ derived

    @property
    def db_url(self) -> str:
        return self.database_url or sqlite_url(self.data_dir)

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def results_dir(self) -> Path:
        return self.data_dir / "results"

    @property
    def work_dir(self) -> Path:
        return self.data_dir / "work"

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"

    def ensure_dirs(self) -> None:
        for d in (self.data_dir, self.uploads_dir, self.results_dir, self.work_dir, self.tmp_dir):
            d.mkdir(parents=True, exist_ok=True)

    def analysis_options(self) -> dict[str, Any]:
        """The AnalyzeOptions every job uses (also part of the dedup key)."""
        return {
            "frames": self.frames,
            "sampling": "even",
            "min_face": self.min_face,
            "max_bytes": self.max_upload_bytes,
            "explain": True,
            "narrator": self.narrator,
            "narrator_model": self.narrator_model,
            # only when set, so the dedup key of servers without a trust list stays what it was
            **({"c2pa_trust": str(self.c2pa_trust.resolve())} if self.c2pa_trust else {}),
        }

    def settings_key(self, model_sha256: str) -> str:
        """Two analyses with the same file and the same key give the same result."""
        opts = {k: v for k, v in self.analysis_options().items() if k != "max_bytes"}
        blob = json.dumps({"options": opts, "model": model_sha256}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()
