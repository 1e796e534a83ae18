"""The examples/ notebooks run top to bottom on generated data (so they never rot)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow  # executes the notebooks

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
KERNEL = "seethrough-test-python"


@pytest.fixture(scope="session")
def kernel_name(tmp_path_factory) -> str:
    """A kernelspec that runs *this* interpreter (the venv's), found through JUPYTER_PATH."""
    share = tmp_path_factory.mktemp("jupyter")
    spec = share / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "seethrough tests", "language": "python",
    }))
    mp = pytest.MonkeyPatch()
    mp.setenv("JUPYTER_PATH", str(share))
    yield KERNEL
    mp.undo()


def _run(name: str, tmp_path: Path, kernel_name: str, monkeypatch, **env: str) -> nbformat.NotebookNode:
    monkeypatch.setenv("SEETHROUGH_NB_FAST", "1")
    monkeypatch.setenv("SEETHROUGH_NB_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    nb = nbformat.read(EXAMPLES / f"{name}.ipynb", as_version=4)
    NotebookClient(nb, kernel_name=kernel_name, timeout=120, startup_timeout=60,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb


def _text(nb) -> str:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.output_type == "stream":
                out.append(o.text)
            elif "text/plain" in o.get("data", {}):
                out.append(o.data["text/plain"])
    return "".join(out)


def _images(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


@pytest.mark.parametrize("name", ["quickstart", "train_folder_dataset", "evaluate_checkpoint"])
def test_notebooks_are_stored_clean(name):
    nb = nbformat.read(EXAMPLES / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)  # outputs cleared
    assert "parameters" in code[0].metadata.get("tags", [])
    assert "SEETHROUGH_NB_FAST" in code[0].source


def test_quickstart(tmp_path, kernel_name, monkeypatch):
    nb = _run("quickstart", tmp_path, kernel_name, monkeypatch)
    text = _text(nb)
    assert "status: ok" in text
    assert any(f"verdict: {v} (fake probability" in text for v in ("real", "uncertain", "fake"))
    assert "model: seethrough-default" in text
    assert "key frame(s) shown" in text
    assert _images(nb) >= 2  # gallery + region/timeline charts, inline
    report = tmp_path / "work" / "report.html"
    assert report.is_file() and "<html" in report.read_text(encoding="utf-8").lower()
    assert (tmp_path / "work" / "demo.mp4").is_file()


def test_train_folder_dataset(tmp_path, kernel_name, monkeypatch):
    nb = _run("train_folder_dataset", tmp_path, kernel_name, monkeypatch)
    text = _text(nb)
    run = tmp_path / "work" / "run"
    assert (run / "model.pt").is_file() and (run / "metrics_frames.csv").is_file()
    assert "20 files: {'real': 10, 'fake': 10}" in text and "'Recolour': 10" in text
    assert "checkpoint:" in text and "held-out clips:" in text
    assert _images(nb) >= 1  # the learning curves

    from seethrough.models import read_checkpoint_meta

    meta = read_checkpoint_meta(run / "model.pt")
    assert meta.config["name"] == "folder-demo" and meta.methods == ["Recolour"]


def test_evaluate_checkpoint(tmp_path, kernel_name, monkeypatch, tiny_checkpoint):
    nb = _run("evaluate_checkpoint", tmp_path, kernel_name, monkeypatch, SEETHROUGH_NB_CHECKPOINT=str(tiny_checkpoint))
    text = _text(nb)
    assert "model: tiny-test" in text
    assert "files 5: scored 4, no face 1, errors 0" in text
    assert "video accuracy:" in text and "misclassified file(s)" in text
    assert _images(nb) >= 1  # the confusion matrix
    out = tmp_path / "work" / "eval"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_scored"] == 4 and sum(map(sum, metrics["video"]["confusion"])) == 4
