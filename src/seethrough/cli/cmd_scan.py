"""``seethrough scan``: analyse folders or lists of media into a resumable results database."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .app import app
from .errors import EXIT_INPUTS_FAILED, fails_with
from .cmd_provenance import TRUST_HELP, trust_option_value

console = Console(stderr=True)
_MAX_LISTED = 10


def _summary_table(s) -> Table:
    t = Table(title=f"Scan into {s.db}" + (" [yellow](interrupted)[/yellow]" if s.interrupted else ""))
    t.add_column("")
    t.add_column("files", justify="right")
    t.add_row("found", str(s.files))
    if s.duplicates:
        t.add_row("  same content as another file", str(s.duplicates))
    t.add_row("  unique contents", str(s.unique))
    t.add_row("  already done (skipped)", str(s.skipped))
    t.add_row("  analysed now", str(s.analysed))
    if s.pending:
        t.add_row("  [yellow]left for the next run[/yellow]", str(s.pending))
    t.add_section()
    for verdict, colour in (("real", "green"), ("uncertain", "yellow"), ("fake", "red")):
        t.add_row(f"[{colour}]{verdict}[/{colour}]", str(s.verdicts.get(verdict, 0)))
    t.add_row("no face", str(s.no_face))
    for code, n in sorted(s.errors.items(), key=lambda kv: -kv[1]):
        t.add_row(f"[red]error: {escape(code)}[/red]", str(n))
    if s.missing:
        t.add_row("[red]unreadable inputs (not recorded)[/red]", str(len(s.missing)))
    t.add_section()
    t.add_row("time", f"{s.elapsed_s:.1f} s")
    rate = f"{s.files_per_minute:.1f} files/min" if s.analysed else "-"
    t.add_row("rate", f"{rate} ({s.workers} {s.backend} worker{'s' if s.workers != 1 else ''})")
    peaks = (s.worker_stats or {}).get("peak_rss_mb") or {}
    if peaks:
        t.add_row("peak memory per worker", f"{max(peaks.values()):.0f} MB")
    return t


def _error_table(s) -> Table | None:
    if not s.error_examples and not s.missing:
        return None
    t = Table(title="Problems" + (f" (first {_MAX_LISTED})" if len(s.error_examples) > _MAX_LISTED else ""))
    t.add_column("path")
    t.add_column("code")
    t.add_column("message")
    for e in s.error_examples[:_MAX_LISTED]:
        t.add_row(escape(e["path"]), e["code"], escape(e["message"]))
    for p in s.missing[:_MAX_LISTED]:
        t.add_row(escape(p), "missing", "listed but not found or not readable")
    return t


def _exports(db: Path, csv_path: Path | None, jsonl_path: Path | None) -> None:
    from ..scan import ResultStore, export_csv, export_jsonl

    with ResultStore(db, writer=False) as store:
        if csv_path:
            n = export_csv(store, csv_path)
            console.print(f"csv: {csv_path} ({n} files)", highlight=False, soft_wrap=True)
        if jsonl_path:
            n = export_jsonl(store, jsonl_path)
            console.print(f"jsonl: {jsonl_path} ({n} files)", highlight=False, soft_wrap=True)


def _sigterm_as_interrupt(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt


@app.command("scan")
def scan_cmd(
    inputs: list[Path] = typer.Argument(None, help="Folders (searched recursively), media files, or .txt/.lst lists of paths."),
    out: Path = typer.Option(..., "--out", "-o", help="Results database (SQLite); reruns resume it."),
    csv_path: Optional[Path] = typer.Option(None, "--csv", help="Also write a CSV: one row per file."),
    jsonl_path: Optional[Path] = typer.Option(None, "--jsonl", help="Also write JSONL: one line per file, full analysis."),
    export_only: bool = typer.Option(False, "--export-only", help="Only write --csv/--jsonl from an existing database."),
    workers: int = typer.Option(1, "--workers", "-j", min=1, help="Worker processes (Ray actors), one model each."),
    frames: int = typer.Option(32, "--frames", "-n", min=1, help="Frames sampled per video."),
    min_face: int = typer.Option(40, "--min-face", min=1, help="Smallest face side in pixels that is analysed."),
    max_faces: int = typer.Option(4, "--max-faces", min=1, help="Faces scored per file."),
    sampling: str = typer.Option("even", help="even (spread over the video) | first"),
    evidence: Optional[Path] = typer.Option(None, "--evidence",
                                            help="Folder for heatmaps + report.html per file (DIR/ab/<sha256>/); default: scores only."),
    model: Optional[Path] = typer.Option(None, help="Checkpoint instead of the bundled default model."),
    timeout: float = typer.Option(600.0, "--timeout", min=0, help="Seconds one file may take before it is stopped (0: no limit)."),
    retry_errors: bool = typer.Option(False, "--retry-errors", help="Analyse again files whose earlier result is an error."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="Math threads per worker [default: CPUs / workers]."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address",
                                              help="Run on Ray: local (start one here), auto, or ray://host:port."),
    device: str = typer.Option("auto", help="auto | cpu | cuda: where the model runs."),
    progress: bool = typer.Option(True, help="Show the progress bar."),
    c2pa_trust: Optional[Path] = typer.Option(None, "--c2pa-trust", help=TRUST_HELP),
) -> None:
    """Analyse every video and image once (by content) into a SQLite database; resumable.

    Examples: `seethrough scan videos/ --out results.db -j 2 --csv results.csv`;
    `seethrough scan --out results.db --export-only --jsonl results.jsonl`.
    """
    from ..scan import ScanConfig, run_scan

    if export_only:
        if not (csv_path or jsonl_path):
            raise typer.BadParameter("--export-only needs --csv and/or --jsonl")
        with fails_with(also=(OSError,)):
            _exports(out, csv_path, jsonl_path)
        return
    if not inputs:
        raise typer.BadParameter("give at least one folder, file or list to scan (or --export-only)")
    if sampling not in ("even", "first"):
        raise typer.BadParameter("--sampling must be even or first")
    if device not in ("auto", "cpu", "cuda"):
        raise typer.BadParameter("--device must be auto, cpu or cuda")
    cfg = ScanConfig(db=out, checkpoint=model, frames=frames, min_face=min_face, sampling=sampling,
                     max_faces=max_faces, evidence_dir=evidence, workers=workers, threads=threads,
                     timeout_s=timeout or None, retry_errors=retry_errors, ray_address=ray_address,
                     device=device, progress=progress, exclude=[p for p in (csv_path, jsonl_path) if p],
                     c2pa_trust=trust_option_value(c2pa_trust))
    old = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        with fails_with():
            summary = run_scan(inputs, cfg)
    finally:
        signal.signal(signal.SIGTERM, old)
    Console().print(_summary_table(summary))
    problems = _error_table(summary)
    if problems is not None:
        Console().print(problems)
    if summary.interrupted:
        console.print("Interrupted: run the same command again to finish (nothing done is lost or repeated).")
        raise typer.Exit(130)
    with fails_with(also=(OSError,)):
        if csv_path or jsonl_path:
            _exports(out, csv_path, jsonl_path)
    if summary.errors:  # like analyze: some files could not be analysed (no face is an outcome, not an error)
        raise typer.Exit(EXIT_INPUTS_FAILED)
