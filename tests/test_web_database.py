"""#13 F4: a damaged or emptied database is refused in one plain line, by the server and by doctor.

The damage is made here: a history of a few hundred rows, the server stopped, 20 pages
overwritten at offset 12288 (SQLite's page 1, which the schema check reads, stays whole).
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seethrough import doctor
from seethrough.cli import app as cli
from seethrough.errors import ConfigError
from seethrough.facts import WEB_DB_FILE
from seethrough.web.context import context_of
from seethrough.web.settings import WebSettings
from seethrough.web.store import Store


def _history(data: Path, rows: int = 400) -> Path:
    """A stopped server's database with ``rows`` analyses, and one result and upload in its folder."""
    data.mkdir(parents=True, exist_ok=True)
    db = data / WEB_DB_FILE
    store = Store(f"sqlite:///{db}")
    for i in range(rows):
        store.create(sha256=f"{i:064x}", name=f"clip{i}.mp4", stored_path=f"uploads/{i:02x}/x", settings_key="k",
                     options={"note": "x" * 300}, size_bytes=1000)
    store.close()
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # as a stopped server leaves it: everything in the main file
    con.close()
    (data / "results" / ("a" * 32)).mkdir(parents=True, exist_ok=True)
    (data / "uploads" / "ab").mkdir(parents=True, exist_ok=True)
    (data / "uploads" / "ab" / ("ab" + "0" * 62)).write_bytes(b"an upload")
    return db


def _damage(db: Path, offset: int = 12288, pages: int = 20) -> None:
    assert db.stat().st_size > offset + pages * 4096, "the history is too small to damage as the campaign did"
    rnd = random.Random(13)
    with open(db, "r+b") as fh:
        fh.seek(offset)
        fh.write(bytes(rnd.getrandbits(8) for _ in range(pages * 4096)))


@pytest.fixture()
def damaged(tmp_path) -> Path:
    db = _history(tmp_path / "data")
    _damage(db)
    return db


def test_a_server_refuses_damaged_pages_before_it_starts(damaged, tiny_checkpoint):
    from seethrough.web.app import create_app

    with pytest.raises(ConfigError) as err:
        create_app(WebSettings(data_dir=damaged.parent, model=tiny_checkpoint))
    msg = str(err.value)
    assert "is damaged" in msg and "restore the file from a backup" in msg and "\n" not in msg


def test_serve_says_so_in_one_line_without_a_traceback(damaged, tiny_checkpoint):
    res = CliRunner().invoke(cli, ["serve", "--data", str(damaged.parent), "--model", str(tiny_checkpoint),
                                   "--port", "0"])
    out = res.output
    assert res.exit_code == 2, out
    assert "error:" in out and "damaged" in out
    assert "Traceback" not in out and "sqlalche" not in out.lower()


def test_doctor_runs_the_integrity_check(damaged, tmp_path):
    c = doctor.check_database(f"sqlite:///{damaged}")
    assert c.status == "fail" and "damaged" in c.detail and "backup" in c.fix
    whole = _history(tmp_path / "whole", rows=5)
    ok = doctor.check_database(f"sqlite:///{whole}")
    assert ok.status == "ok" and "integrity check ok" in ok.detail


def test_an_emptied_database_does_not_start_a_new_history_beside_the_old_files(tmp_path, tiny_checkpoint):
    from seethrough.web.app import create_app

    db = _history(tmp_path / "data", rows=3)
    db.write_bytes(b"")  # truncated to 0 bytes
    settings = WebSettings(data_dir=db.parent, model=tiny_checkpoint)
    for _ in range(2):  # and not silently on the second start either (the first one made the table)
        with pytest.raises(ConfigError) as err:
            create_app(settings)
        msg = str(err.value)
        assert "0 bytes" in msg or "holds no analyses" in msg
        assert "1 result and 1 upload" in msg and "move results/ and uploads/ out of" in msg
    c = doctor.check_database(f"sqlite:///{db}")
    assert c.status == "fail" and "move results/ and uploads/" in c.fix
    # a new data folder with an empty database is simply a new history
    fresh = WebSettings(data_dir=tmp_path / "fresh", model=tiny_checkpoint)
    fresh.data_dir.mkdir()
    (fresh.data_dir / WEB_DB_FILE).write_bytes(b"")
    made = create_app(fresh)
    context_of(made).probes.close()
    context_of(made).store.close()
