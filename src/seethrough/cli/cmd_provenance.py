"""``seethrough provenance``: what files say about themselves (Content Credentials, metadata), fast,
without loading the model."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from .app import app
from .errors import EXIT_INPUTS_FAILED, print_error


_STYLE = {"declaration": "bold magenta", "warning": "bold red", "hint": "yellow", "info": "dim"}


def trust_option_value(path: Optional[Path]) -> Optional[str]:
    """``--c2pa-trust`` (or ``SEETHROUGH_C2PA_TRUST``), checked now so a bad file is a usage error."""
    from ..provenance import TRUST_ENV, TrustListError, load_trust_list

    chosen = path or (Path(os.environ[TRUST_ENV]) if os.environ.get(TRUST_ENV) else None)
    if chosen is None:
        return None
    try:
        load_trust_list(chosen)
    except TrustListError as exc:
        raise typer.BadParameter(str(exc), param_hint="--c2pa-trust") from None
    return str(chosen)


TRUST_HELP = ("PEM file of root certificates whose Content Credentials signers you trust "
              "(default: SEETHROUGH_C2PA_TRUST; without one, signers are reported as not in a trust list).")


def print_provenance(block: dict | None, out: Console, indent: str = "  ") -> None:
    """The provenance lines of one file: warnings and declarations first, then the summary rows."""
    from ..provenance import display_rows, headline_statements

    if not block:
        return
    heads = headline_statements(block)
    for s in heads:
        out.print(f"{indent}[{_STYLE[s['level']]}]{escape(s['text'])}[/{_STYLE[s['level']]}]", soft_wrap=True)
    for label, value in display_rows(block):
        out.print(f"{indent}{escape(label)}: {escape(value)}", highlight=False, soft_wrap=True)
    for s in block.get("statements") or []:
        if s not in heads:
            out.print(f"{indent}[{_STYLE[s['level']]}]{escape(s['text'])}[/{_STYLE[s['level']]}]", soft_wrap=True)
    if block.get("note"):
        out.print(f"{indent}[yellow]note: {escape(block['note'])}[/yellow]", soft_wrap=True)


@app.command("provenance")
def provenance_cmd(
    files: list[Path] = typer.Argument(..., help="Images or videos."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per file (JSON Lines): file and provenance."),
    c2pa_trust: Optional[Path] = typer.Option(None, "--c2pa-trust", help=TRUST_HELP),
) -> None:
    """What each file says about itself: Content Credentials (C2PA), camera, software, generator traces.

    Fast triage of many files: no model is loaded and nothing is fetched from the network.
    """
    from ..provenance import read_provenance
    from ..provenance.wording import UNSIGNED_NOTE

    trust = trust_option_value(c2pa_trust)
    out = Console()
    failed = False
    for f in files:
        if not f.is_file():
            failed = True
            why = "is a folder" if f.is_dir() else "does not exist"
            if as_json:
                sys.stdout.write(json.dumps({"file": {"name": f.name, "path": str(f)}, "error": "unreadable",
                                             "message": f"{f} {why}."}) + "\n")
            else:
                print_error(f"{f} {why}.")
            continue
        block = read_provenance(f, trust=trust).to_dict()
        if as_json:
            sys.stdout.write(json.dumps({"file": {"name": f.name, "path": str(f)}, "provenance": block}) + "\n")
            sys.stdout.flush()
            continue
        out.print(f"[bold]{escape(f.name)}[/bold]", highlight=False)
        print_provenance(block, out)
    if not as_json and any(f.is_file() for f in files):
        out.print(f"[dim]{UNSIGNED_NOTE}[/dim]", soft_wrap=True)
    if failed:
        raise typer.Exit(EXIT_INPUTS_FAILED)
