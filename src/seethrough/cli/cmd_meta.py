"""``seethrough prep meta``: index a dataset folder into one metadata CSV."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ..datasets import AUTO, MetaSummary, build_metadata, layout_names, summarize_metadata, write_metadata_csv
from .app import app, prep_app  # noqa: F401
from .errors import fails_with

LayoutChoice = Enum("LayoutChoice", {name: name for name in [*layout_names(), AUTO]}, type=str)  # type: ignore[misc]


def summary_table(summary: MetaSummary, title: str = "Dataset metadata") -> Table:
    """Files per split, label and method."""
    table = Table(title=title)
    table.add_column("split")
    table.add_column("label")
    table.add_column("method")
    table.add_column("files", justify="right")
    previous_split = None
    for (split, label, method), n in summary.table.items():
        if previous_split is not None and split != previous_split:
            table.add_section()
        previous_split = split
        table.add_row(split or "-", label, method, str(n))
    return table


def summary_line(summary: MetaSummary) -> str:
    """One line of totals: files per label and split, groups, frames."""
    labels = ", ".join(f"{k} {v}" for k, v in summary.by_label.items())
    splits = ", ".join(f"{k or '-'} {v}" for k, v in summary.by_split.items())
    line = f"{summary.total} files ({labels}); {splits}; {summary.groups} groups"
    if summary.frames_missing < summary.total:
        line += f"; {summary.frames_total} frames"
        if summary.frames_missing:
            line += f" ({summary.frames_missing} files not counted)"
    return line


@prep_app.command("meta")
def meta(
    root: Path = typer.Argument(..., help="Dataset root folder."),
    layout: LayoutChoice = typer.Option(AUTO, "--layout", "-l", help="Dataset layout; auto detects it."),  # type: ignore[valid-type]
    out: Path = typer.Option(..., "--out", "-o", help="Metadata CSV to write."),
    val_frac: float = typer.Option(0.2, "--val-frac", min=0.0, max=1.0, help="Share of non-official rows for val."),
    seed: int = typer.Option(0, "--seed", help="Seed of the group-aware split."),
    count_frames: bool = typer.Option(True, "--count-frames/--no-count-frames", help="Probe every file for its frame count."),
    workers: int | None = typer.Option(None, "--workers", "-j", min=1, help="Parallel probe processes."),
) -> None:
    """Build one metadata CSV (path, label, method, dataset, split, frames, group, ...)."""
    console = Console()
    with fails_with():
        rows = build_metadata(
            root,
            layout=layout.value,
            val_frac=val_frac,
            seed=seed,
            count_frames=count_frames,
            workers=workers,
        )
        write_metadata_csv(rows, out)
    summary = summarize_metadata(rows)
    console.print(summary_table(summary, title=str(root)))
    console.print(summary_line(summary), highlight=False, soft_wrap=True)
    if summary.leaking_groups:
        console.print(
            f"[yellow]note:[/yellow] {len(summary.leaking_groups)} groups span several splits as the official "
            "split lists put them there.",
            highlight=False,
        )
    console.print(f"Wrote {len(rows)} rows to {out}", highlight=False, soft_wrap=True)
