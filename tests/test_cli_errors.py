"""Every command fails the same way: `error: <message>` with the message printed as itself,
exit status 2 when the command cannot run, 1 when some of its inputs could not be used."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from seethrough.cli import app
from seethrough.cli.errors import EXIT_CANNOT_RUN, EXIT_INPUTS_FAILED

# Square brackets are console markup to rich: printed unescaped, "[bold]" would vanish.
ODD = "[bold]nope[/bold].pt"


@pytest.fixture
def odd_model(tmp_path):
    return tmp_path / ODD  # does not exist


def _args(command: str, tmp_path, model) -> list[str]:
    media = tmp_path / "x.jpg"
    media.write_bytes(b"not read: the model is loaded first")
    csv = tmp_path / "list.csv"
    csv.write_text("path,label\nx.jpg,real\n")
    return {
        "analyze": ["analyze", str(media), "--model", str(model)],
        "evaluate": ["evaluate", str(csv), "--out", str(tmp_path / "eval"), "--model", str(model)],
        "compare": ["compare", str(media), str(media), "--out", str(tmp_path / "f.png"), "--model", str(model)],
        "calibrate": ["calibrate", str(model), "--out", str(tmp_path / "c.pt")],
        "finetune": ["finetune", "-m", str(model), "--failures", str(csv)],
    }[command]


@pytest.mark.parametrize("command", ["analyze", "evaluate", "compare", "calibrate", "finetune"])
def test_a_missing_model_is_one_escaped_line_and_status_2_everywhere(command, tmp_path, odd_model):
    res = CliRunner().invoke(app, _args(command, tmp_path, odd_model))
    assert res.exit_code == EXIT_CANNOT_RUN, res.output
    assert "error:" in res.output and ODD in res.output  # the name as it is, brackets and all
    assert "Traceback" not in res.output


def test_a_config_that_cannot_be_read_stops_training_and_fit_head_with_status_2(tmp_path):
    bad = tmp_path / "[x].yaml"
    bad.write_text("frames: {epochs: -1\n")  # not even YAML
    for command in (["train", "-c", str(bad)], ["fit-head", "-c", str(bad)]):
        res = CliRunner().invoke(app, command)
        assert res.exit_code == EXIT_CANNOT_RUN, (command, res.output)
        assert "error:" in res.output and "[x].yaml" in res.output


def test_an_unusable_input_is_status_1_and_a_missing_folder_status_2(tmp_path):
    empty = tmp_path / "[a].mp4"
    empty.write_bytes(b"")
    res = CliRunner().invoke(app, ["probe", str(empty)])
    assert res.exit_code == EXIT_INPUTS_FAILED and "[a].mp4" in res.output
    res = CliRunner().invoke(app, ["prep", "validate", str(tmp_path / "[gone]")])
    assert res.exit_code == EXIT_CANNOT_RUN and "[gone]" in res.output
