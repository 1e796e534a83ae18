"""The training cache: what fit-head leaves there, marked by use, and pruning (library and CLI)."""

from __future__ import annotations

import os
import time

import pytest
from typer.testing import CliRunner

from seethrough.cli import app
from seethrough.errors import ConfigError
from seethrough.training.cache import list_entries, prune

from test_head import head_config

DAY = 86400.0
runner = CliRunner()


def _age(path, days):
    t = time.time() - days * DAY
    os.utime(path, (t, t))


def _entry(root, name, nbytes, days):
    """A cache entry as the loaders leave it: a folder (crop table) or a file, ``days`` unused."""
    path = root / name
    if name.endswith(".npz"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * nbytes)
    else:
        path.mkdir(parents=True)
        (path / "images.npy").write_bytes(b"x" * nbytes)
    _age(path, days)
    return path


def test_fit_head_marks_what_it_reuses_and_pruning_keeps_it(cross_source, tiny_checkpoint, tmp_path):
    from seethrough.training.head import run_fit_head

    cfg = head_config(tmp_path, cross_source, tiny_checkpoint)
    run_fit_head(cfg)
    cache = tmp_path / "cache"
    kinds = {e.path.relative_to(cache).as_posix().split("/")[0]: e.kind for e in list_entries(cache)}
    assert kinds == {"faces-cross_source": "faces", "head-embeddings": "head-embeddings"}
    for e in list_entries(cache):
        _age(e.path, 40)
    stale = _entry(cache, "crops-0123456789ab", 1000, 40)  # a crop table no recipe reads any more
    other = _entry(cache, "notes", 10, 400)  # not the loaders': listed, never removed
    run_fit_head(cfg)  # reuses the stored embeddings (marked used); the cropped faces are not read
    used = {e.path.name: e for e in list_entries(cache)}
    store = next(n for n in used if n.endswith(".npz"))
    assert time.time() - used[store].last_used < 60 and time.time() - used["faces-cross_source"].last_used > 39 * DAY
    assert used["notes"].kind == "other" and not used["notes"].prunable
    gone = prune(cache, older_than_days=30, busy_minutes=0)
    assert sorted(e.path.name for e in gone) == ["crops-0123456789ab", "faces-cross_source"]
    assert not stale.exists() and other.exists() and (cache / "head-embeddings" / store).is_file()
    out, report = run_fit_head(cfg)  # what the recipe needs is still there: no cropping, the same fit
    assert out.is_file() and report["sources"] == {"cross_source": 10}
    assert not (cache / "faces-cross_source").exists()


def test_prune_by_size_goes_least_recently_used_first_and_spares_busy_entries(tmp_path):
    cache = tmp_path / "cache"
    old = _entry(cache, "crops-aaaaaaaaaaaa", 4000, 20)
    mid = _entry(cache, "videos-bbbbbbbbbbbb.npz", 3000, 10)
    new = _entry(cache, "head-embeddings/cccccccccccccccc.npz", 2000, 2)
    busy = _entry(cache, "faces-dfdc_faces", 5000, 0)  # being written by a run right now
    assert [e.path for e in list_entries(cache)] == [old, mid, new, busy]
    # dry run: says what would go, removes nothing
    would = prune(cache, max_bytes=8000, dry_run=True)
    assert [e.path for e in would] == [old, mid] and old.exists() and mid.exists()
    gone = prune(cache, max_bytes=8000)  # 14,000 bytes: drop the oldest until 8,000 remain
    assert [e.path for e in gone] == [old, mid]
    assert not old.exists() and not mid.exists() and new.exists() and busy.exists()
    # the busy entry stays even when it alone is over the limit
    assert [e.path for e in prune(cache, max_bytes=0)] == [new] and busy.exists()


def test_prune_refuses_what_it_cannot_do(tmp_path):
    _entry(tmp_path, "crops-aaaaaaaaaaaa", 10, 100)
    with pytest.raises(ConfigError, match="Say what to prune"):
        prune(tmp_path)
    with pytest.raises(ConfigError, match="negative"):
        prune(tmp_path, older_than_days=-1)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="not a folder"):
        list_entries(tmp_path / "file")
    assert list_entries(tmp_path / "missing") == []
    assert (tmp_path / "crops-aaaaaaaaaaaa").exists()


def test_cache_command_lists_and_prunes(tmp_path):
    cache = tmp_path / "cache"
    old = _entry(cache, "crops-aaaaaaaaaaaa", 2_500_000, 50)
    new = _entry(cache, "faces-cross_source", 1_000, 2)
    graphs = tmp_path / "user-cache" / "onnx"
    graphs.mkdir(parents=True)
    (graphs / "0123-224-v1-torch2.onnx").write_bytes(b"x" * 3000)
    res = runner.invoke(app, ["cache", str(cache)], env={"SEETHROUGH_CACHE": str(tmp_path / "user-cache")})
    assert res.exit_code == 0, res.output
    assert "2 entries, 2.5 MB" in res.output and "crops-aaaaaaaaaaaa" in res.output and "faces-cross_source" in res.output
    assert "1 exported ONNX graph of checkpoints (3.0 KB)" in res.output
    res = runner.invoke(app, ["cache", str(cache), "--prune", "--older-than", "30", "--dry-run"])
    assert res.exit_code == 0 and "would remove" in res.output and "(crops, 2.5 MB)" in res.output and old.exists()
    res = runner.invoke(app, ["cache", str(cache), "--prune", "--max-size", "1MB"])
    assert res.exit_code == 0 and "removed 1 entry (2.5 MB)" in res.output
    assert not old.exists() and new.exists()
    res = runner.invoke(app, ["cache", str(cache), "--prune", "--max-size", "lots"])
    assert res.exit_code != 0 and "Not a size: 'lots'" in res.output and new.exists()
    res = runner.invoke(app, ["cache", str(cache), "--older-than", "3"])
    assert res.exit_code != 0 and "go with --prune" in res.output and new.exists()
