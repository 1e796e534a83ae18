"""``seethrough prep faces``: crop the main face of every video in a metadata CSV."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from .app import prep_app
from .errors import fails_with

console = Console()


def _margin(value: str) -> float:
    from ..faces.align import parse_margin

    try:
        return parse_margin(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@prep_app.command("faces")
def prep_faces_cmd(
    meta_csv: Path = typer.Argument(..., help="Metadata CSV with a 'path' column (and usually 'label')."),
    out: Path = typer.Option(..., "--out", "-o", help="Cache folder for the .npz files and index.csv."),
    frames: int = typer.Option(32, "--frames", min=1, help="Frames sampled per video."),
    size: int = typer.Option(224, "--size", min=32, max=1024, help="Crop edge in pixels."),
    margin: str = typer.Option("1.3", "--margin", help="Crop edge / face size; a number, 'tight' (1.0) or 'loose' (1.3)."),
    workers: int = typer.Option(0, "--workers", "-j", min=0, help="Worker processes (0: up to 4, by cores)."),
    root: Path | None = typer.Option(None, "--root", help="Folder the CSV's relative paths start from (default: the CSV's folder)."),
    min_face: int = typer.Option(40, "--min-face", min=1, help="Smallest usable face (shorter box side, pixels)."),
    threshold: float = typer.Option(0.8, "--threshold", min=0.05, max=0.99, help="Face detection score threshold."),
    mode: str = typer.Option("even", "--mode", help="Frame sampling: 'even' (spread over the video) or 'first'."),
    rotate: bool = typer.Option(False, "--rotate/--no-rotate", help="Level the eye line in the crops."),
    landmarks: bool = typer.Option(True, "--landmarks/--no-landmarks", help="Fit 68 landmarks (dlib) and place crops by them."),
    compress: bool = typer.Option(False, "--compress/--no-compress", help="zlib-compress the .npz files (~30% smaller, slower)."),
    force: bool = typer.Option(False, "--force", help="Recompute files that are already in the cache."),
) -> None:
    """Sample frames, find the main face, and save its aligned crops and landmarks per video.

    Resumable: complete .npz files made with the same settings are skipped.
    """
    from ..faces.prep import PrepSettings, prep_faces

    if mode not in ("even", "first"):
        raise typer.BadParameter(f"must be 'even' or 'first', not {mode!r}", param_hint="--mode")
    settings = PrepSettings(
        frames=frames,
        mode=mode,
        size=size,
        margin=_margin(margin),
        min_face=min_face,
        score_threshold=threshold,
        landmarks=landmarks,
        rotate=rotate,
        compress=compress,
    )
    with fails_with():
        report = prep_faces(meta_csv, out, root=root, settings=settings, workers=workers or None, force=force)

    table = Table(title=f"Face crops: {len(report.rows)} rows in {report.seconds:.1f} s", show_lines=False)
    table.add_column("status")
    table.add_column("rows", justify="right")
    table.add_column("face crops", justify="right")
    for status, count in sorted(report.status_counts.items(), key=lambda kv: -kv[1]):
        crops = sum(r.n_faces for r in report.rows if r.status == status)
        table.add_row(status, str(count), str(crops))
    console.print(table)
    console.print(f"processed {report.n_processed}, skipped (already cached) {report.n_skipped}, index: {report.index_path}")
    failed = [r for r in report.rows if not r.npz]
    if failed:
        console.print(f"[yellow]{len(failed)} rows produced no file[/yellow] (they are retried on the next run):")
        for r in failed[:10]:
            console.print(f"  row {r.row}: {r.status}: {r.message}")
        if len(failed) > 10:
            console.print(f"  ... and {len(failed) - 10} more (see {report.index_path})")
