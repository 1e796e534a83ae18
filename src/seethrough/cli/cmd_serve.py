"""``seethrough serve``: the web app and REST API."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from .app import app
from .errors import EXIT_CANNOT_RUN, fails_with, print_error
from .cmd_provenance import TRUST_HELP

console = Console(stderr=True)


@app.command("serve")
def serve_cmd(
    host: str = typer.Option("127.0.0.1", help="Address to listen on. Anything but loopback needs --token."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: Optional[int] = typer.Option(None, help="Analysis worker processes (default 1, or SEETHROUGH_WORKERS)."),
    data: Optional[Path] = typer.Option(None, help="Data folder: database, uploads, results (default ./.seethrough/web or SEETHROUGH_DATA)."),
    model: Optional[Path] = typer.Option(None, help="Checkpoint to use instead of the bundled model."),
    token: Optional[str] = typer.Option(None, help="API token clients must send (or SEETHROUGH_TOKEN)."),
    max_upload_mb: Optional[float] = typer.Option(None, help="Largest accepted upload in MB (default 500)."),
    job_timeout: Optional[float] = typer.Option(None, help="Seconds one analysis may run before it is stopped (default 600)."),
    memory_limit_mb: Optional[int] = typer.Option(None, help="Address-space limit per worker in MB (default 8192, 0 = none)."),
    c2pa_trust: Optional[Path] = typer.Option(None, "--c2pa-trust", help=TRUST_HELP),
) -> None:
    """Web app + REST API: upload videos or images, follow progress, read results, download reports."""
    from ..web.server import serve
    from ..web.settings import WebSettings

    with fails_with():
        settings = WebSettings.from_env(
            host=host, port=port, workers=workers, data_dir=data, model=model, token=token,
            max_upload_bytes=int(max_upload_mb * 1_000_000) if max_upload_mb else None,
            job_timeout_s=job_timeout, memory_limit_mb=memory_limit_mb, c2pa_trust=c2pa_trust,
        )
    shown = f"[{settings.host}]" if ":" in settings.host else settings.host
    console.print(f"seethrough web app on [bold]http://{shown}:{settings.port}/[/bold]  "
                  f"(API reference: /docs; data in {settings.data_dir})")
    try:
        with fails_with():
            serve(settings)
    except OSError as exc:
        print_error(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}")
        raise typer.Exit(EXIT_CANNOT_RUN) from None
