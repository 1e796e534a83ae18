"""Top-level commands: analyze, demo, train, finetune, evaluate."""

from __future__ import annotations

import json
import sys
import tempfile
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


def _options(frames: int, sampling: str, min_face: int, **kw):
    from ..analysis import AnalyzeOptions

    try:
        return AnalyzeOptions(frames=frames, sampling=sampling, min_face=min_face, **kw)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _safe_stem(name: str) -> str:
    """A file-name stem made of letters, digits, - and _ (at most 60 characters)."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in Path(name).stem)[:60] or "media"


def _report_paths(reports: list[Path], files: list[Path]) -> list[list[Path]]:
    """Report files per input: one input -> the paths as given; several -> each --report is a
    folder receiving <name>.html and <name>.pdf (names made safe, hash-suffixed)."""
    if not reports:
        return [[] for _ in files]
    if len(files) == 1:
        from ..report import report_format

        for r in reports:
            try:
                report_format(r)
            except ValueError:
                raise typer.BadParameter(f"--report {r}: the name must end in .html or .pdf") from None
        return [list(reports)]
    for r in reports:
        if r.suffix:
            raise typer.BadParameter("with several files, --report takes a folder (one HTML and one PDF per file)")
    from ..inference import file_sha256

    out = []
    for f in files:
        stem = _safe_stem(f.name)
        tag = file_sha256(f)[:8] if f.is_file() else "missing"
        out.append([r / f"{stem}-{tag}{ext}" for r in reports for ext in (".html", ".pdf")])
    return out


def _print_text(a) -> None:
    from ..facts import method_label, overall_pct, pct

    from ..provenance import headline_statements

    name = escape(a.file.get("name") or "")  # a file name is printed as itself, brackets and all
    # A signed AI declaration or broken Content Credentials come before the detector's verdict.
    for s in headline_statements(a.provenance):
        colour = "magenta" if s["level"] == "declaration" else "red"
        console.print(f"[bold]{name}[/bold]: [{colour} bold]{escape(s['text'])}[/{colour} bold]", soft_wrap=True)
    if a.status != "ok":
        colour = "yellow" if a.status == "no_face" else "red"
        console.print(f"[bold]{name}[/bold]: [{colour}]{a.status}[/{colour}] — {escape(a.message or '')}")
        _print_provenance_rest(a.provenance)
        return

    colour = {"fake": "red", "uncertain": "yellow", "real": "green"}[a.verdict]
    console.print(
        f"[bold]{name}[/bold]: [{colour} bold]{a.verdict.upper()}[/{colour} bold] "
        f"(fake probability {overall_pct(a.fake_probability, a.thresholds)})"
    )
    if a.abstention and a.abstention["gated"]:
        for r in a.abstention["reasons"]:
            console.print(f"  [yellow]no verdict:[/yellow] {r['text']}")
    if a.method and a.verdict != "real":
        probs = ", ".join(f"{method_label(k)} {pct(v)}"
                          for k, v in sorted(a.method["probabilities"].items(), key=lambda kv: -kv[1]))
        console.print(f"  resembles: {method_label(a.method['predicted'])}  ({probs}; conditional on manipulation)")
    scored = [f for f in a.frames if f.fake_probability is not None]
    ev = a.evidence
    if ev:
        if len(scored) > 1:
            console.print("  most suspicious frames: " + ", ".join(
                f"#{k['index']} at {k['time_s']:.2f}s ({pct(k['fake_probability'])})" for k in ev["key_frames"][:3]))
        hot = {r["name"]: r["score"] for r in ev["regions"]}
        if ev["top_regions"]:
            console.print("  hottest regions: " + ", ".join(f"{n.replace('_', ' ')} ({hot[n]:.2f}x face average)"
                                                          for n in ev["top_regions"]))
        for c in ev["caveats"]:
            console.print(f"  [dim]caveat: {c['text']}[/dim]")
    if len(a.tracks) > 1:
        console.print("  faces: " + ", ".join(f"#{t['track_id']} {t['verdict']} ({pct(t['fake_probability'])})"
                                              for t in a.tracks))
    _print_provenance_rest(a.provenance)
    console.print(f"  {len(scored)} face frames scored; model {a.model['name']}; {a.timings_ms.get('total', 0):.0f} ms")


def _print_provenance_rest(block: dict | None) -> None:
    """The provenance block below the verdict, less the statements already shown above it."""
    from ..provenance import headline_statements
    from .cmd_provenance import print_provenance

    if not block:
        return
    shown = headline_statements(block)
    console.print("  provenance:")
    print_provenance({**block, "statements": [s for s in block.get("statements") or [] if s not in shown]},
                     console, indent="    ")


def _write_outputs(a, reports: list[Path], evidence: Path | None) -> None:
    """Reports and heatmap PNGs of one analysis, from one gallery."""
    if not reports and evidence is None:
        return
    from ..explain import evidence_gallery, save_gallery
    from ..report import write_reports

    gallery = evidence_gallery(a)
    if reports:
        try:
            for path in write_reports(a, reports, gallery=gallery):
                console.print(f"  report: {path}")
        except OSError as exc:
            console.print(f"[red]error:[/red] could not write the report: {exc}")
    if evidence is not None and a.status == "ok":
        stem = _safe_stem(a.file["name"])
        written = save_gallery(gallery, evidence, lambda _r, item, kind: f"{stem}_frame{item.index:06d}_{kind}.png")
        console.print(f"  {len(written)} heatmap images in {evidence}/")


@app.command("analyze")
def analyze_cmd(
    files: list[Path] = typer.Argument(..., help="Videos or images to analyse."),
    fmt: str = typer.Option("text", "--format", "-f", help="text | json | jsonl"),
    frames: int = typer.Option(32, help="Frames sampled per video."),
    sampling: str = typer.Option("even", help="even (spread over the video) | first"),
    min_face: int = typer.Option(40, help="Smallest face side in pixels that is analysed."),
    model: Optional[Path] = typer.Option(None, help="Checkpoint to use instead of the bundled default model."),
    report: list[Path] = typer.Option([], "--report", "-r",
                                      help="Write a report: out.html or out.pdf (repeatable; a folder with several files)."),
    evidence: Optional[Path] = typer.Option(None, help="Folder for the key frames' heatmap PNGs."),
    narrator: str = typer.Option("template", help="Who writes the plain-words summary: template | ollama | openai | none."),
    narrator_model: Optional[str] = typer.Option(None, help="LLM model name for --narrator ollama/openai."),
    explain: bool = typer.Option(True, help="Heatmaps, regions, key frames and caveats (--no-explain: scores only)."),
    max_faces: int = typer.Option(4, help="Faces scored per file; the verdict is the most suspicious face's."),
    provenance: bool = typer.Option(True, help="Read Content Credentials and metadata (--no-provenance: skip)."),
    c2pa_trust: Optional[Path] = typer.Option(None, "--c2pa-trust", help=TRUST_HELP),
) -> None:
    """Is this face real or manipulated? Verdict, probability, method, evidence, provenance, narrator, reports."""
    from ..analysis import analyze
    from ..inference import get_predictor

    if fmt not in ("text", "json", "jsonl"):
        raise typer.BadParameter("--format must be text, json or jsonl")
    if (report or evidence) and not explain:
        raise typer.BadParameter("--report and --evidence need the explanations; drop --no-explain")
    opts = _options(frames, sampling, min_face, explain=explain, max_faces=max_faces,
                    narrator=None if narrator == "none" else narrator, narrator_model=narrator_model,
                    provenance=provenance, c2pa_trust=trust_option_value(c2pa_trust) if provenance else None)
    targets = _report_paths(report, files)
    with fails_with():
        predictor = get_predictor(model)
    results = []
    for f, paths in zip(files, targets):
        a = analyze(f, predictor=predictor, options=opts)
        results.append(a)
        _write_outputs(a, paths, evidence)
        if fmt == "jsonl":
            sys.stdout.write(json.dumps(a.to_dict()) + "\n")
            sys.stdout.flush()
        elif fmt == "text":
            _print_text(a)
    if fmt == "json":
        payload = results[0].to_dict() if len(results) == 1 else [r.to_dict() for r in results]
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    if any(r.status == "error" for r in results):
        raise typer.Exit(EXIT_INPUTS_FAILED)


def _print_pipeline(media: dict | None, faces: dict, n_frames: int, timings: dict) -> None:
    counts = faces.get("frame_status_counts", {})
    t = Table(title="What the pipeline found")
    t.add_column("stage")
    t.add_column("result")
    if media:
        t.add_row("media", f"{media['codec']} {media['width']}x{media['height']} @ {media['fps']:.1f} fps, "
                           f"{media['frame_count']} frames, {media['duration_s']:.2f} s")
    t.add_row("frames sampled", str(n_frames))
    t.add_row("faces", f"{counts.get('ok', 0)} frames with a face, {counts.get('no_face', 0)} without, "
                       f"{faces.get('n_tracks', 0)} track(s)")
    t.add_row("timings (ms)", ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
    console.print(t)


@app.command("demo")
def demo_cmd(
    out: Optional[Path] = typer.Option(None, help="Folder for the generated demo clip (default: a temp folder)."),
) -> None:
    """Generate a short face clip and run the whole analysis on it (what `make run` does)."""
    from ..analysis import analyze
    from ..errors import ModelError
    from ..inference import get_predictor
    from ..testing import make_face_video

    folder = out or Path(tempfile.mkdtemp(prefix="seethrough-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    clip = make_face_video(folder / "demo.mp4", n_frames=72, fps=24, size=(640, 480), no_face_frames=range(30, 36))
    console.print(f"demo clip: {clip} (3 s, 640x480, the astronaut photo moving; frames 30-35 without a face)")
    try:
        predictor = get_predictor()
    except ModelError as exc:  # still show the media and face stages
        console.print(f"[yellow]{exc}[/yellow]")
        predictor = None
    if predictor is None:
        from ..faces import FacePipeline
        from ..media import probe, sample_frames

        info = probe(clip)
        faces = FacePipeline().process(sample_frames(clip, n=32))
        _print_pipeline(info.to_dict(), faces.to_summary(), 32, faces.timings_ms)
        return
    a = analyze(clip, predictor=predictor)
    _print_pipeline(a.media, a.faces or {}, len(a.frames), a.timings_ms)
    _print_text(a)
    console.print("Try: seethrough analyze YOUR_VIDEO.mp4   (or --format json)")


@app.command("train")
def train_cmd(
    config: Path = typer.Option(..., "--config", "-c", help="YAML training config (see configs/)."),
    fresh: bool = typer.Option(False, help="Ignore checkpoints of an earlier run and start again."),
) -> None:
    """Train a detector: frame stage, temporal stage, calibration; resumable.

    Several GPUs or machines: torchrun --standalone --nproc_per_node=N -m seethrough train -c CONFIG
    """
    from ..training.config import load_config
    from ..training.run import train

    with fails_with():
        path = train(load_config(config), resume=not fresh)
    if path is not None:  # under torchrun, only rank 0 exports
        console.print(f"checkpoint: {path}")


@app.command("evaluate")
def evaluate_cmd(
    meta: Path = typer.Argument(..., help="Labelled list: a `seethrough prep meta` CSV (path,label[,method][,split]) "
                                         "or a cross_source-style labels.csv (kind,family,method,group,grid)."),
    out: Path = typer.Option(Path("eval"), "--out", "-o", help="Folder for the report files."),
    root: Optional[Path] = typer.Option(None, help="Folder the CSV paths are relative to (default: the CSV's folder)."),
    split: Optional[str] = typer.Option(None, help="Only rows of this split (e.g. test)."),
    part: Optional[str] = typer.Option(None, help="Only rows whose group is in this part (train, calib, test) of the "
                                                  "held-out split file."),
    split_file: Optional[Path] = typer.Option(None, "--split-file", help="Held-out split (default: "
                                                                         "configs/benchmark_split.json)."),
    model: Optional[Path] = typer.Option(None, help="Checkpoint (default: the bundled model)."),
    frames: int = typer.Option(32, help="Frames sampled per video."),
    threshold: float = typer.Option(0.5, help="Fake-probability threshold for accuracy/F1/confusion."),
) -> None:
    """Accuracy, macro F1/P/R, ROC-AUC (video and frame), EER, confusion, per-method scores, failures.json."""
    from ..datasets.heldout import load_split
    from ..inference import get_predictor
    from ..training.evaluate import evaluate, items_from_csv

    with fails_with(also=(OSError, KeyError, ValueError,)):
        predictor = get_predictor(model)
        heldout = load_split(split_file) if part or split_file else None
        items = items_from_csv(meta, root, split, heldout=heldout, part=part)
    m = evaluate(items, out, predictor=predictor, options=_options(frames, "even", 40, explain=False, narrator=None), threshold=threshold)
    console.print((out / "classification_report.txt").read_text())
    t = Table(title="per method")
    for c in ("method", "n", "mean p(fake)", "called fake", "AUC vs real"):
        t.add_column(c)
    for r in m["per_method"]:
        t.add_row(r["method"], str(r["n"]), f"{r['mean_fake_probability']:.3f}", f"{r['called_fake']:.3f}", f"{r['auc_vs_real']:.3f}")
    console.print(t)
    console.print(f"reports in {out}/")


@app.command("calibrate")
def calibrate_cmd(
    checkpoint: Path = typer.Argument(..., help="Checkpoint to calibrate (its weights are not changed)."),
    out: Path = typer.Option(..., "--out", "-o", help="Calibrated checkpoint to write."),
    config: Path = typer.Option(Path("configs/model_v2.yaml"), "--config", "-c",
                                help="Training config whose listed sources give the training crops (familiarity) "
                                     "and, through the split, the calibration sources."),
    split_file: Optional[Path] = typer.Option(None, "--split-file", help="Held-out split (default: "
                                                                         "configs/benchmark_split.json)."),
    frames: int = typer.Option(32, help="Frames sampled per video, as analyze does."),
    familiarity: bool = typer.Option(True, help="Fit the familiarity gate (unfamiliar faces get no verdict)."),
    min_coverage: Optional[float] = typer.Option(
        None, min=0.0, max=1.0, help="Raise the real line until this share of the calibration files gets a verdict "
                                     "(more verdicts, more fakes called real; default: calibrate.MIN_COVERAGE, 0: "
                                     "the real line from the calibration fakes alone)."),
) -> None:
    """Fit temperature, verdict thresholds and the familiarity gate on sources the model never saw."""
    from ..training.calibrate import run_calibration

    with fails_with(also=(OSError,)):
        path, report = run_calibration(checkpoint, out, config, split_file, frames=frames, familiarity=familiarity,
                                       **({} if min_coverage is None else {"min_coverage": min_coverage}))
    console.print(json.dumps(report, indent=1))
    console.print(f"calibrated checkpoint: {path}")


@app.command("fit-head")
def fit_head_cmd(
    config: Path = typer.Option(Path("configs/model_v3.yaml"), "--config", "-c",
                                help="Training config: its sources (train part) and its head: section."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Checkpoint to write (default: "
                                                                 "<output_dir>/model.pt)."),
) -> None:
    """New linear heads on a frozen backbone, fitted on every training source; then run calibrate."""
    from ..training.head import run_fit_head

    with fails_with(also=(OSError,)):
        path, report = run_fit_head(config, out)
    console.print(json.dumps(report, indent=1))
    console.print(f"checkpoint: {path}  (next: seethrough calibrate {path} --out CALIBRATED -c {config})")


@app.command("pack-training")
def pack_training_cmd(
    config: Path = typer.Option(..., "--config", "-c", help="Training config whose sources (train part) are packed."),
    out: Path = typer.Option(Path(".pack"), "--out", "-o", help="Folder to write (crops, config, starting weights)."),
    max_mb: float = typer.Option(40.0, min=1.0, help="Size of the whole pack, at most (crops, arrays, weights): a "
                                                     "lent GPU takes 64 MiB with the working tree."),
    quality: int = typer.Option(90, min=50, max=100, help="JPEG quality of the packed crops."),
) -> None:
    """Pack a frame-stage run to train where the data is not (a lent GPU): see training/pack.py."""
    from ..training.config import load_config
    from ..training.pack import write_pack

    with fails_with(also=(OSError,)):
        report = write_pack(load_config(config), out, max_mb=max_mb, quality=quality)
    console.print(json.dumps(report, indent=1))
    console.print(f"pack: {out}  (there: PYTHONPATH=src python3 -m seethrough.training.pack {out} OUT --minutes 8)")


@app.command("finetune")
def finetune_cmd(
    checkpoint: Path = typer.Option(..., "--checkpoint", "-m", help="Checkpoint to continue from."),
    failures: Path = typer.Option(..., "--failures", help="failures.json written by `seethrough evaluate`."),
    out: Path = typer.Option(Path("runs/finetune"), "--out", "-o", help="Output folder (model.pt, metrics)."),
    epochs: float = typer.Option(2.0, help="Passes over the failures (and replay)."),
    lr: float = typer.Option(5e-5, help="Learning rate (low: this is a correction, not a new training)."),
    replay: Optional[Path] = typer.Option(None, help="Crop CSV mixed in so the model does not forget (path,label[,group])."),
    replay_n: int = typer.Option(2000, help="How many replay crops to mix in."),
    exclude_groups: Optional[Path] = typer.Option(
        None, help="JSON list of groups never to replay (e.g. a run's val_groups.json, to keep it held out)."),
    split_file: Optional[Path] = typer.Option(None, "--split-file", help="Held-out split whose benchmark and "
                                              "calibration groups are never trained on (default: "
                                              "configs/benchmark_split.json when present)."),
) -> None:
    """Continue a checkpoint on the files it misclassified."""
    from ..training.finetune import finetune

    with fails_with():
        excluded = set(json.loads(exclude_groups.read_text())) if exclude_groups else None
        path = finetune(checkpoint, failures, out, epochs=epochs, lr=lr, replay=replay, replay_n=replay_n,
                        exclude_groups=excluded, split_file=split_file)
    console.print(f"checkpoint: {path}")
