"""Research and operations commands: doctor, tune, compare, cache."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .app import app
from .errors import EXIT_INPUTS_FAILED, fails_with

console = Console(stderr=True)

_STATUS_STYLE = {"ok": "[green]OK[/green]", "warn": "[yellow]WARN[/yellow]", "fail": "[bold red]FAIL[/bold red]"}


# -------------------------------------------------------------------------- doctor


@app.command("doctor")
def doctor_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON (machine-readable)."),
    model: Optional[Path] = typer.Option(None, help="Checkpoint to check instead of the bundled default model."),
    database_url: Optional[str] = typer.Option(
        None, "--database-url", help="Database to check (default: DATABASE_URL, else the web app's SQLite file)."),
    ollama_host: Optional[str] = typer.Option(
        None, "--ollama-host", help="Ollama address (default: OLLAMA_HOST, else http://127.0.0.1:11434)."),
) -> None:
    """What this machine can do: Python, torch, GPUs, ONNX Runtime, models, FFmpeg, Ollama, database, disk.

    Exit status 0 when nothing FAILs (WARN lines are optional features), 1 otherwise.
    """
    from ..doctor import exit_code, run_checks

    checks = run_checks(model=model, database_url=database_url, ollama_host=ollama_host)
    code = exit_code(checks)
    if as_json:
        sys.stdout.write(json.dumps({"ok": code == 0, "checks": [c.to_dict() for c in checks]}, indent=2) + "\n")
        raise typer.Exit(code)
    t = Table(title="seethrough doctor", show_lines=False)
    t.add_column("check", style="bold")
    t.add_column("status")
    t.add_column("detail", overflow="fold")
    t.add_column("fix", overflow="fold")
    for c in checks:
        t.add_row(c.name, _STATUS_STYLE[c.status], escape(c.detail), escape(c.fix or ""))
    out = Console()
    out.print(t)
    n_fail = sum(c.status == "fail" for c in checks)
    n_warn = sum(c.status == "warn" for c in checks)
    if n_fail:
        out.print(f"[bold red]{n_fail} check(s) failed[/bold red]: apply the fixes above, then run `seethrough doctor` again.")
    else:
        out.print("[green]Ready.[/green]" + (f" {n_warn} optional feature(s) unavailable (WARN)." if n_warn else ""))
    raise typer.Exit(code)


# ---------------------------------------------------------------------------- tune


def _fmt_value(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _tune_table(res) -> Table:
    t = Table(title=f"Study {res.study_name}: maximise {res.objective} ({res.finished} finished)")
    t.add_column("trial", justify="right")
    t.add_column("state")
    t.add_column("value", justify="right")
    t.add_column("frame score", justify="right")
    t.add_column("params", overflow="fold")
    t.add_column("time", justify="right")
    colours = {"COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red", "RUNNING": "cyan"}
    best = res.best.number if res.best else None
    for r in res.trials:
        c = colours.get(r.state, "white")
        params = ", ".join(f"{k}={_fmt_value(v)}" for k, v in r.params.items())
        mark = " *" if r.number == best else ""
        t.add_row(f"{r.number}{mark}", f"[{c}]{r.state}[/{c}]", _fmt_value(r.value), _fmt_value(r.frame_score),
                  escape(params), "-" if r.duration_s is None else f"{r.duration_s:.0f} s")
    return t


@app.command("tune")
def tune_cmd(
    config: Path = typer.Option(..., "--config", "-c", help="Base YAML training config (as for `seethrough train`)."),
    trials: int = typer.Option(20, "--trials", "-n", help="Finished trials wanted in the study (a rerun adds the missing ones)."),
    study_dir: Optional[Path] = typer.Option(None, "--study-dir", "-o",
                                             help="Folder for trial runs and results (default: runs/tune-<config name>)."),
    storage: Optional[str] = typer.Option(None, help="SQLAlchemy URL of the study database "
                                                     "(default: sqlite:///<study-dir>/optuna.db; PostgreSQL works)."),
    study_name: Optional[str] = typer.Option(None, help="Study name in the database (default: the config's name)."),
    space: Optional[Path] = typer.Option(None, help="YAML search space replacing the built-in one."),
    pruner: str = typer.Option("median", help="median (stop trials whose frame stage is below the median) | none"),
    objective: str = typer.Option("auto", help="auto | temporal_auc | frame_score (auto: temporal_auc when the "
                                               "temporal stage is enabled)"),
    timeout: Optional[float] = typer.Option(None, help="Stop starting new trials after this many seconds."),
) -> None:
    """Hyperparameter search with Optuna over a training config; resumable, writes best_config.yaml.

    Each trial trains a copy of the config (its own folder trial_<n>) with sampled learning
    rates, frames per clip, LSTM size, augmentation strength and backbone.
    """
    from ..training.config import load_config
    from ..tune import load_space, tune

    if objective not in ("auto", "temporal_auc", "frame_score"):
        raise typer.BadParameter("--objective must be auto, temporal_auc or frame_score")
    if pruner not in ("median", "none"):
        raise typer.BadParameter("--pruner must be median or none")
    try:
        with fails_with():
            cfg = load_config(config)
            folder = study_dir or Path("runs") / f"tune-{cfg.name}"
            res = tune(cfg, trials, folder, storage=storage, study_name=study_name, space=load_space(space),
                       pruner=pruner, objective=objective, timeout=timeout)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]: the running trial is marked failed; "
                      "run the same command again to continue the study.")
        raise typer.Exit(130) from None
    console.print(_tune_table(res))
    if res.best_config:
        console.print(f"best trial {res.best.number}: {res.objective} {res.best.value:.4f}")
        console.print(f"best config: {res.best_config}   (train it: seethrough train -c {res.best_config})",
                      soft_wrap=True, highlight=False)
    else:
        console.print("[yellow]no trial completed yet[/yellow]: nothing to write as best_config.yaml")
    console.print(f"trials: {res.study_dir / 'trials.csv'}; study database: {res.storage}", soft_wrap=True,
                  highlight=False)


# ------------------------------------------------------------------------- compare


@app.command("compare")
def compare_cmd(
    real: Path = typer.Argument(..., help="The real face: image or video."),
    fake: Path = typer.Argument(..., help="The fake face: image or video."),
    out: list[Path] = typer.Option(..., "--out", "-o", help="figure.png (200 dpi) and/or figure.pdf; repeatable."),
    frame_real: Optional[int] = typer.Option(
        None, help="Frame of REAL to show (default: its most suspicious frame). Only sampled frames with a face "
                   "have heatmaps: the nearest one is shown."),
    frame_fake: Optional[int] = typer.Option(None, help="Frame of FAKE to show (as --frame-real)."),
    model: Optional[Path] = typer.Option(None, help="Checkpoint to use instead of the bundled default model."),
    frames: int = typer.Option(32, help="Frames sampled per video (the frames that can be shown)."),
    min_face: int = typer.Option(40, help="Smallest face side in pixels that is analysed."),
) -> None:
    """Side-by-side figure of two faces: crops, Grad-CAM overlays, top regions, verdicts (PNG/PDF)."""
    from ..compare import check_outputs, compare
    from ..inference import get_predictor

    with fails_with():
        check_outputs(out)
        predictor = get_predictor(model)
    with fails_with(EXIT_INPUTS_FAILED):  # one of the two inputs cannot be used
        res = compare(real, fake, out, predictor=predictor, frame_real=frame_real, frame_fake=frame_fake,
                      frames=frames, min_face=min_face)
    for p in (res.real, res.fake):
        console.print(f"{p.role}: {escape(p.name)} → {p.verdict} (p(fake) {p.fake_probability:.3f}), "
                      f"frame #{p.index}", highlight=False)
    for path in res.outputs:
        console.print(f"figure: {path}", highlight=False, soft_wrap=True)


# -------------------------------------------------------------------------- cache


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


@app.command("cache")
def cache_cmd(
    cache_dir: Path = typer.Argument(Path(".seethrough/cache"), help="The training cache (a config's data.cache_dir)."),
    prune: bool = typer.Option(False, "--prune", help="Remove entries: by --older-than and/or --max-size."),
    older_than: Optional[float] = typer.Option(None, "--older-than", help="With --prune: entries unused this many days."),
    max_size: Optional[str] = typer.Option(
        None, "--max-size", help="With --prune: then the least recently used, until seethrough's entries take at "
                                 "most this size (e.g. 2GB, 500MB)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="With --prune: say what would go, remove nothing."),
) -> None:
    """What the training cache holds (crop tables, analyze()-style faces, fit-head embeddings), by last use;
    with --prune, remove what was not used for a while. Entries used in the last hour are never removed."""
    import datetime as dt

    from ..facts import parse_size, size_text
    from ..training.cache import KINDS, list_entries, prune as prune_cache

    if not prune and (older_than is not None or max_size is not None or dry_run):
        raise typer.BadParameter("--older-than, --max-size and --dry-run go with --prune.")
    with fails_with(also=(OSError,)):
        if prune:
            removed = prune_cache(cache_dir, older_than_days=older_than, dry_run=dry_run,
                                  max_bytes=None if max_size is None else parse_size(max_size))
        entries = list_entries(cache_dir)
    total = size_text(sum(e.bytes for e in entries))
    if prune:
        verb = "would remove" if dry_run else "removed"
        for e in removed:
            console.print(f"{verb} {escape(str(e.path))} ({e.kind}, {size_text(e.bytes)})", highlight=False,
                          soft_wrap=True)
        console.print(f"{verb} {_count(len(removed), 'entry', 'entries')} ({size_text(sum(e.bytes for e in removed))}); "
                      f"{cache_dir} holds {total}", highlight=False, soft_wrap=True)
        return
    t = Table(title=f"{cache_dir}: {_count(len(entries), 'entry', 'entries')}, {total}")
    for col in ("entry", "kind", "size", "last used"):
        t.add_column(col, justify="right" if col == "size" else "left")
    for e in entries:
        t.add_row(escape(e.path.relative_to(cache_dir).as_posix()), e.kind, size_text(e.bytes),
                  dt.datetime.fromtimestamp(e.last_used).strftime("%Y-%m-%d %H:%M"))
    Console().print(t)
    for kind, what in KINDS.items():
        if any(e.kind == kind for e in entries):
            console.print(f"  {kind}: {what}", highlight=False)
    from ..models.onnx_runtime import KEEP_FILES, cache_dir as onnx_dir

    graphs = list(onnx_dir().glob("*.onnx"))
    if graphs:
        console.print(f"Also: {_count(len(graphs), 'exported ONNX graph', 'exported ONNX graphs')} of checkpoints "
                      f"({size_text(sum(g.stat().st_size for g in graphs))}) in {onnx_dir()}, the {KEEP_FILES} most "
                      "recently used kept by the predictor itself.", highlight=False, soft_wrap=True)
