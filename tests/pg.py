"""A throwaway PostgreSQL server for the tests, started from the installed binaries.

``postgres_server`` (session scope) runs ``initdb`` in a temporary folder and starts the
server on a free TCP port of 127.0.0.1 (fsync off, 1 MB WAL segments: about 40 MB on
disk, up in a second or two), and stops it (``pg_ctl stop -m immediate``) and removes
the folder when the session ends, whether the tests passed or not. PostgreSQL refuses
to run as root, so under root the cluster belongs to the ``postgres`` system user (or
``nobody``). ``pg_url`` gives each test its own empty database, owned by an ordinary
(non-superuser) role with a password, as a ``postgresql+psycopg://`` URL.

Without the binaries (or the psycopg driver) the tests that use these fixtures skip
and say why. ``SEETHROUGH_PG_BIN`` names the folder of initdb/pg_ctl/postgres when
they are somewhere unusual.

Import the fixtures into a test module: ``from pg import pg_url, postgres_server``.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

SUPERUSER = "seethrough_admin"
APP_USER = "seethrough"
APP_PASSWORD = "app-" + secrets.token_hex(8)
START_TIMEOUT_S = 30
PROGRAMS = ("initdb", "pg_ctl", "postgres")


def _has_programs(folder: Path) -> bool:
    return all(os.access(folder / p, os.X_OK) for p in PROGRAMS)


def find_bindir() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres (newest version first), or None."""
    env = os.environ.get("SEETHROUGH_PG_BIN")
    if env:
        return Path(env) if _has_programs(Path(env)) else None
    candidates = []
    for name in ("pg_ctl", "initdb"):
        found = shutil.which(name)
        if found:  # /usr/local/bin/pg_ctl is often a link into the versioned folder
            candidates.append(Path(os.path.realpath(found)).parent)

    def version(p: str) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", p)) or (0,)

    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)]
    candidates += [Path("/usr/local/pgsql/bin")]
    return next((c for c in candidates if _has_programs(c)), None)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One cluster in a temporary folder; :meth:`start`, :meth:`url`, :meth:`stop`."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.port: int | None = None
        self.root = Path(tempfile.mkdtemp(prefix="seethrough-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sock"
        self.logfile = self.root / "server.log"
        self.user_kwargs: dict = {}
        self._stopped = False
        self._counter = 0
        if os.geteuid() == 0:
            owner = None
            for name in ("postgres", "nobody"):
                try:
                    owner = pwd.getpwnam(name)
                    break
                except KeyError:
                    continue
            if owner is None:
                self._cleanup_dir()
                pytest.skip("running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as")
            self.user_kwargs = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self.env = {"PATH": f"{bindir}:/usr/bin:/bin", "LC_ALL": "C", "LANG": "C", "TZ": "UTC", "HOME": str(self.root)}

    # ------------------------------------------------------------------ running

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        # Output goes to a file, not a pipe: the detached postmaster must not hold our pipe open.
        out = self.root / "cmd.log"
        with open(out, "wb") as fh:
            proc = subprocess.run(list(args), stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                                  cwd=self.root, env=self.env, timeout=timeout, **self.user_kwargs)
        proc.stdout = out.read_text(errors="replace")
        return proc

    def _log_tail(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")[-3000:]
        except OSError:
            return "(no server log)"

    def start(self) -> PostgresServer:
        self.sockets.mkdir()
        pwfile = self.root / "pw"
        pwfile.write_text("admin-" + secrets.token_hex(8) + "\n")
        if self.user_kwargs:
            for p in (self.sockets, pwfile):
                os.chown(p, self.user_kwargs["user"], self.user_kwargs["group"])
        init = self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", SUPERUSER, f"--pwfile={pwfile}",
                         "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--locale=C",
                         "--no-sync", "--wal-segsize=1")
        pwfile.unlink()
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed ({init.returncode}):\n{init.stdout[-3000:]}")
        options = " ".join([
            "-c listen_addresses=127.0.0.1", f"-c unix_socket_directories={self.sockets}",
            "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off",
            "-c shared_buffers=16MB", "-c max_connections=60",
            "-c min_wal_size=2MB", "-c max_wal_size=32MB", "-c logging_collector=off",
        ])
        for _attempt in range(3):  # the free port may be taken between the check and the start
            self.port = _free_port()
            started = self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.logfile), "-w",
                                "-t", str(START_TIMEOUT_S), "-o", f"{options} -p {self.port}", "start",
                                timeout=START_TIMEOUT_S + 10)
            if started.returncode == 0:
                break
        else:
            raise RuntimeError(f"PostgreSQL did not start:\n{started.stdout[-2000:]}\n{self._log_tail()}")
        atexit.register(self.stop)  # also if the session is interrupted before the fixture's teardown
        self.psql(f"CREATE ROLE {APP_USER} LOGIN PASSWORD '{APP_PASSWORD}'")
        return self

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL as the superuser over the Unix socket (trusted, no password)."""
        done = self._run(str(self.bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.sockets),
                         "-p", str(self.port), "-U", SUPERUSER, "-d", database, "-At", "-c", sql) \
            if (self.bindir / "psql").exists() else None
        if done is None:
            raise RuntimeError(f"psql not found in {self.bindir}")
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {sql}\n{done.stdout}")
        return done.stdout.strip()

    # ------------------------------------------------------------------ databases

    def url(self, database: str, *, user: str = APP_USER, password: str | None = None, port: int | None = None,
            driver: str = "postgresql+psycopg") -> str:
        pw = APP_PASSWORD if password is None else password
        return f"{driver}://{user}:{pw}@127.0.0.1:{port or self.port}/{database}"

    def create_database(self, prefix: str = "test") -> str:
        """A new empty database owned by the application role; returns its name."""
        self._counter += 1
        name = f"{re.sub(r'[^a-z0-9_]', '_', prefix.lower())[:40]}_{self._counter}"
        self.psql(f'CREATE DATABASE "{name}" OWNER {APP_USER}')
        return name

    def drop_database(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # ------------------------------------------------------------------ stopping

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.data.is_dir():
            pid = self._postmaster_pid()
            try:
                stopped = self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                                    "-t", "20", "stop", timeout=30).returncode == 0
            except (subprocess.TimeoutExpired, OSError):
                stopped = False
            if not stopped and pid and self._postmaster_pid() == pid:
                try:  # the postmaster this fixture started, by its id
                    os.kill(pid, signal.SIGKILL)
                    time.sleep(0.5)
                except ProcessLookupError:
                    pass
        self._cleanup_dir()

    def _cleanup_dir(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server():
    """A running PostgreSQL server (skips when the binaries or the driver are missing)."""
    pytest.importorskip("psycopg", reason="the psycopg driver is not installed (pip install -e '.[postgres]')")
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: install PostgreSQL "
                    "(e.g. apt-get install postgresql-15) or set SEETHROUGH_PG_BIN")
    server = PostgresServer(bindir)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres_server, request):
    """A fresh database for one test, as a ``postgresql+psycopg://`` URL."""
    name = postgres_server.create_database(request.node.name)
    yield postgres_server.url(name)
    postgres_server.drop_database(name)
