"""Run the app with uvicorn: in the foreground (``seethrough serve``) or in a thread
(tests and the bench), on a socket bound before the server starts (port 0 = any free port)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import uvicorn

from .app import create_app
from .settings import WebSettings


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this: without it, small responses wait ~40 ms on
    # Nagle + delayed ACK (uvicorn does not set it on sockets it is handed).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _config(app, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(app, log_level=log_level, access_log=False, timeout_graceful_shutdown=5,
                          server_header=False, proxy_headers=False)


def serve(settings: WebSettings, log_level: str = "info") -> None:
    """Serve until interrupted (Ctrl-C stops the workers and re-queues unfinished jobs)."""
    app = create_app(settings)
    sock = _bind(settings.host, settings.port)
    uvicorn.Server(_config(app, log_level)).run(sockets=[sock])


@dataclass
class RunningServer:
    url: str
    app: object
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self, timeout: float = 20.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def start_in_thread(settings: WebSettings, *, log_level: str = "warning", wait_workers: bool = True,
                    timeout: float = 180.0) -> RunningServer:
    """Start the app in a background thread; returns once it answers (and its workers are ready)."""
    import httpx

    app = create_app(settings)
    sock = _bind(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(_config(app, log_level))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="seethrough-uvicorn", daemon=True)
    thread.start()
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError("the server thread stopped while starting")
        try:
            h = httpx.get(f"{url}/api/health", timeout=2).json()
            if h["workers"]["errors"]:
                raise RuntimeError(f"workers failed to start: {h['workers']['errors']}")
            if not wait_workers or h["workers"]["ready"] >= settings.workers:
                return RunningServer(url, app, server, thread)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.should_exit = True
    raise RuntimeError("the server did not become ready in time")
