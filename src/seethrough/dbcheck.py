"""Is the web app's database whole, and does it still hold the history of its data folder?

Used by the web store when a server starts (it refuses to start on either problem, with
the message below) and by ``seethrough doctor``, so both say the same thing in the same
words. Light imports only (SQLAlchemy core).
"""

from __future__ import annotations

from itertools import islice
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

#: What to do about a damaged database (the server refuses it; doctor shows it as the fix).
DAMAGED_FIX = ("stop every server using it, then restore the file from a backup; or move it away to start an "
               "empty history (uploads and results in the data folder then belong to no analysis)")
#: SQLite's words for a damaged file (the first line of its error or of its integrity check).
_DAMAGE_MARKERS = ("malformed", "not a database", "corrupt", "database disk image")
#: Folders of the data folder that hold what the history points at (see ``WebSettings``).
HISTORY_FOLDERS = ("results", "uploads")
_COUNT_CAP = 100_000


def is_damage(message: str) -> bool:
    low = message.lower()
    return any(m in low for m in _DAMAGE_MARKERS)


def damaged_message(shown: str, problem: str) -> str:
    """The one-line refusal for a damaged database."""
    return f"The database {shown} is damaged ({problem}): {DAMAGED_FIX}."


def sqlite_problem(conn, full: bool = False) -> str | None:
    """First problem SQLite's own check finds on ``conn``, or None when the file is whole.

    ``full``: ``PRAGMA integrity_check`` (also index contents; what doctor runs) instead of
    ``quick_check`` (page structure; what a starting server runs, linear in the file size).
    """
    pragma = "integrity_check(5)" if full else "quick_check(5)"
    try:
        rows = [str(r[0]) for r in conn.execute(text(f"PRAGMA {pragma}"))]
    except DBAPIError as exc:  # damage that stops the check itself ("database disk image is malformed")
        lines = str(exc.orig or exc).strip().splitlines()
        return lines[0] if lines else type(exc).__name__
    if rows == ["ok"]:
        return None
    # one row may hold several lines (one per damaged page): the first two are enough to say what is wrong
    lines = [line.strip() for row in rows for line in row.splitlines()
             if line.strip() and not line.startswith("*** in database")]
    more = f" and {len(lines) - 2} more problem(s)" if len(lines) > 2 else ""
    return "; ".join(lines[:2]) + more if lines else "the integrity check gave no answer"


def history_files(data_dir: Path) -> dict[str, int]:
    """Entries under ``results/`` (one folder per analysis) and files under ``uploads/``, capped."""
    out = {}
    for name in HISTORY_FOLDERS:
        folder = Path(data_dir) / name
        if not folder.is_dir():
            out[name] = 0
            continue
        items = folder.iterdir() if name == "results" else (p for p in folder.rglob("*") if p.is_file())
        out[name] = sum(1 for _ in islice(items, _COUNT_CAP))
    return out


def lost_history_message(shown: str, data_dir: Path, files: dict[str, int], zero_bytes: bool) -> str | None:
    """The refusal when the database holds no analyses but ``data_dir`` holds their files; None otherwise."""
    if not any(files.values()):
        return None
    what = "is an empty file (0 bytes)" if zero_bytes else "holds no analyses"
    held = " and ".join(f"{n} {name[:-1]}{'s' if n != 1 else ''}" for name, n in files.items() if n)
    moves = " and ".join(f"{name}/" for name, n in files.items() if n)
    return (f"The database {shown} {what}, but the data folder {data_dir} holds {held} of earlier analyses: "
            f"their history is not in this database (a lost, truncated or replaced file?). Restore the database "
            f"from a backup, or point DATABASE_URL at the one that has it; to start an empty history instead, "
            f"move {moves} out of {data_dir} first.")
