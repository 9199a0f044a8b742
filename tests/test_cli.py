"""The CLI: --help, clean errors without tracebacks, and a real run on the embedded models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from memorag.cli import cli


def test_help_lists_every_command():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("memorize", "ask", "summarize", "recall", "info"):
        assert command in result.output


@pytest.mark.parametrize("command", [["info"], ["ask"], ["recall"], ["summarize"]])
def test_missing_store_is_one_line_and_exit_2(tmp_path: Path, command: list[str]):
    args = [*command, str(tmp_path / "none")] + (["question?"] if command[0] in ("ask", "recall") else [])
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "no store at" in result.output and "Traceback" not in result.output


def test_binary_file_is_refused_before_any_model_loads(tmp_path: Path):
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\x00\x00\x00")
    result = CliRunner().invoke(cli, ["memorize", str(binary), "--store", str(tmp_path / "s")])
    assert result.exit_code == 2 and "binary" in result.output
    assert not (tmp_path / "s").exists()


@pytest.mark.slow
def test_memorize_info_ask_recall_on_the_embedded_models(tmp_path: Path):
    source = tmp_path / "notes.txt"
    source.write_text(
        "Ada Lovelace wrote the first published algorithm for Charles Babbage's Analytical Engine in 1843.\n\n"
        "The Analytical Engine was a proposed mechanical general-purpose computer.\n\n"
        "Grace Hopper created one of the first compilers, the A-0 System, in 1952.",
        encoding="utf-8",
    )
    store = tmp_path / "store"
    runner = CliRunner()
    result = runner.invoke(cli, ["memorize", str(source), "--store", str(store), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["memory"]["beta"] == 1  # a short text fits uncompressed
    info = json.loads(runner.invoke(cli, ["info", str(store), "--json"]).stdout)
    assert info["documents"][0]["source"] == str(source) and info["bytes_on_disk"] > 0
    result = runner.invoke(cli, ["ask", str(store), "Who created the A-0 System?", "--mode", "rag", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert "Hopper" in answer["answer"] and answer["evidence"]
    recalled = json.loads(runner.invoke(cli, ["recall", str(store), "Who wrote the first algorithm?", "--kind",
                                              "answer", "--json"]).stdout)
    assert all(c["kind"] == "answer" and c["text"].strip() for c in recalled["clues"])
    copied = runner.invoke(cli, ["recall", str(store), "Who wrote the first algorithm?", "--recall", "copy", "--json"])
    assert copied.exit_code == 0, copied.output
    spans = json.loads(copied.stdout)["clues"]
    text = source.read_text(encoding="utf-8")
    assert spans and all(c["strategy"] == "copy" and text[c["start"]:c["end"]] == c["text"] for c in spans)
    # a real process, as a user runs it: nothing from third-party libraries on stderr (the weights cache is filled)
    for mode in ("rag", "memorag"):
        run = subprocess.run([sys.executable, "-m", "memorag.cli", "ask", str(store), "Who created the A-0 System?",
                              "--mode", mode, "--max-new-tokens", "16"], capture_output=True, text=True, check=False)
        assert run.returncode == 0 and run.stdout.strip(), run.stderr
        assert run.stderr == "", run.stderr


def test_cli_recall_choices_are_the_library_strategies():
    from memorag.cli import RECALL_STRATEGIES
    from memorag.recall import STRATEGIES

    assert RECALL_STRATEGIES == STRATEGIES
