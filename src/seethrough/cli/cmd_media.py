"""Media commands: ``seethrough probe``, ``seethrough prep validate``, ``seethrough prep cut``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import SeethroughError
from .app import app, prep_app
from .errors import EXIT_INPUTS_FAILED, fails_with, print_error

_MAX_LISTED = 20


@app.command("probe")
def probe_cmd(
    file: Path = typer.Argument(..., help="A video or image file."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    count: bool = typer.Option(False, "--count", help="Count frames from the packets instead of trusting the header."),
    verify: bool = typer.Option(False, "--verify", help="Decode every frame: exact count, catches damage."),
) -> None:
    """Describe a video or image: container, codec, size, fps, frames, rotation, audio."""
    from ..media import probe

    try:
        info = probe(file, count_frames=count, verify=verify)
    except (SeethroughError, OSError) as exc:  # the one input is unusable: status 1, like a bad file elsewhere
        if as_json:
            code = getattr(exc, "code", "unreadable")
            typer.echo(json.dumps({"path": str(file), "error": code, "message": str(exc)}, indent=2))
        else:
            print_error(exc)
        raise typer.Exit(EXIT_INPUTS_FAILED) from None
    if as_json:
        typer.echo(json.dumps(info.to_dict(), indent=2, default=str))
        return
    table = Table(title=str(file), show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    rows = {
        "kind": info.kind,
        "container": info.container,
        "codec": info.codec,
        "size": f"{info.width} x {info.height}",
        "fps": f"{info.fps:.3f}" if info.fps else None,
        "frames": f"{info.frame_count} ({info.extra.get('frame_count_source', 'counted')})"
        if info.kind == "video"
        else info.frame_count,
        "duration": f"{info.duration_s:.3f} s" if info.duration_s is not None else None,
        "rotation": f"{info.rotation} deg clockwise (applied when decoding)" if info.rotation else "0",
        "audio": "yes" if info.has_audio else "no",
        "bytes": f"{info.size_bytes:,}",
    }
    for key, value in rows.items():
        table.add_row(key, "-" if value is None else str(value))
    Console().print(table)


@prep_app.command("validate")
def validate_cmd(
    root: Path = typer.Argument(..., help="Folder to check (searched recursively)."),
    min_frames: int = typer.Option(150, "--min-frames", min=0, help="Videos with fewer frames are flagged too_short."),
    csv_path: Path | None = typer.Option(None, "--csv", help="Report CSV [default: ROOT/validation.csv]."),
    move_bad: Path | None = typer.Option(None, "--move-bad", help="Move bad files here (relative paths kept; nothing is deleted)."),
    workers: int | None = typer.Option(None, "--workers", "-j", min=1, help="Parallel processes."),
    max_mb: float | None = typer.Option(None, "--max-mb", min=0, help="Flag files larger than this many MB."),
    strict: bool = typer.Option(False, "--strict", help="Exit with status 1 when any file is bad."),
) -> None:
    """Decode every video and image under ROOT and report the unusable ones (CSV + summary)."""
    from ..media.validate import validate_dir

    with fails_with(also=(OSError,)):
        report = validate_dir(
            root,
            min_frames=min_frames,
            csv_path=csv_path,
            move_bad=move_bad,
            workers=workers,
            max_bytes=int(max_mb * 1_000_000) if max_mb is not None else None,
        )
    console = Console()
    summary = Table(title=f"Validation of {root}")
    summary.add_column("reason")
    summary.add_column("files", justify="right")
    for reason, n in report.counts.items():
        style = "green" if reason == "ok" else "red"
        summary.add_row(f"[{style}]{reason}[/{style}]", str(n))
    summary.add_section()
    summary.add_row("total", str(len(report.results)))
    console.print(summary)
    bad = report.bad
    if bad:
        listing = Table(title=f"Bad files ({len(bad)})" + (f", first {_MAX_LISTED}" if len(bad) > _MAX_LISTED else ""))
        listing.add_column("path")
        listing.add_column("reason")
        listing.add_column("message")
        for r in bad[:_MAX_LISTED]:
            rel = Path(r.path).relative_to(root) if Path(r.path).is_relative_to(root) else Path(r.path)
            listing.add_row(escape(str(rel)), r.reason, escape(r.message))
        console.print(listing)
    if report.csv_path:
        console.print(f"report: {report.csv_path}", highlight=False, soft_wrap=True)
    if report.moved:
        console.print(f"moved {len(report.moved)} bad files to {move_bad}", highlight=False, soft_wrap=True)
    if strict and bad:
        raise typer.Exit(EXIT_INPUTS_FAILED)


@prep_app.command("cut")
def cut_cmd(
    src_dir: Path = typer.Argument(..., help="Folder of source videos (searched recursively)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder; the relative layout is mirrored."),
    frames: int = typer.Option(150, "--frames", "-n", min=1, help="Keep the first N frames."),
    quality: int = typer.Option(3, "--quality", "-q", min=2, max=31, help="MJPEG quantiser: 2 best ... 31 smallest (ffmpeg -q:v)."),
    workers: int | None = typer.Option(None, "--workers", "-j", min=1, help="Parallel processes."),
    allow_short: bool = typer.Option(False, "--allow-short", help="Keep all frames of videos shorter than N instead of skipping them."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Redo outputs that are already complete."),
) -> None:
    """Cut every video to its first N frames as MJPEG .avi; reruns skip finished outputs."""
    from ..media.cut import cut_dir

    with fails_with(also=(OSError, ValueError)):
        report = cut_dir(
            src_dir, out, frames, quality, workers=workers, allow_short=allow_short, overwrite=overwrite
        )
    console = Console()
    summary = Table(title=f"Cut {src_dir} -> {out} ({frames} frames)")
    summary.add_column("status")
    summary.add_column("videos", justify="right")
    for status, n in report.counts.items():
        style = "green" if status in ("written", "skipped") else "red"
        summary.add_row(f"[{style}]{status}[/{style}]", str(n))
    summary.add_section()
    summary.add_row("total", str(len(report.results)))
    console.print(summary)
    problems = report.failed
    if problems:
        listing = Table(title=f"Not cut ({len(problems)})")
        listing.add_column("source")
        listing.add_column("status")
        listing.add_column("message")
        for r in problems[:_MAX_LISTED]:
            listing.add_row(escape(r.src), r.status, escape(r.message))
        console.print(listing)
    if any(r.status == "failed" for r in report.results):
        raise typer.Exit(EXIT_INPUTS_FAILED)
