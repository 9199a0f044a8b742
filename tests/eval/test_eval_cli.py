"""`memorag eval`: options, clean errors, a run on fake stores, and one run on the real embedded models."""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from fakes import OneChunkRetriever

from memorag.eval import runner
from memorag.eval.command import eval_command
from memorag.types import Answer, Chunk, EvidencePassage

DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@click.group()
def cli() -> None:
    """Stands in for the memorag group, which registers eval_command the same way."""


cli.add_command(eval_command)


def _write_task(path: Path, count: int) -> Path:
    rows = [
        {
            "input": f"What is the code of vault {i}?",
            "context": f"The code of vault {i} is {i}{i}{i}.",
            "answers": [f"{i}{i}{i}"],
            "_id": f"v{i}",
        }
        for i in range(count)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


class FakeRag:
    def __init__(self, context: str) -> None:
        self.context = context
        self.retriever = OneChunkRetriever(context)

    def ask(
        self,
        question: str,
        mode: str = "memorag",
        top_k: int | None = None,
        max_new_tokens: int | None = None,
        recall: str = "generate",
        **settings: Any,
    ) -> Answer:
        chunk = Chunk(0, 0, "doc", 0, len(self.context), self.context)
        return Answer(
            question, self.context.split(" is ")[1].rstrip("."), mode, (), (EvidencePassage(chunk, 1.0),)
        )


class FakeStoreCache:
    def __init__(self, root: Path, retrieval: Any, generation: Any) -> None:
        self.root = root

    def open(self, example: Any, context: str, memory: Any) -> tuple[FakeRag, dict[str, Any]]:
        return FakeRag(context), {"dir": "stores/x", "built": True, "seconds": 0.0, "memorize_s": 0.0}

    def release(self) -> None:
        pass


def test_help_names_the_options():
    result = CliRunner().invoke(cli, ["eval", "--help"])
    assert result.exit_code == 0
    for option in (
        "--data",
        "--corpus",
        "--questions",
        "--methods",
        "--limit",
        "--ids",
        "--seed",
        "--out",
        "--max-context-chars",
        "--top-k",
        "--max-new-tokens",
        "--generator-url",
    ):
        assert option in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give either --data"),
        (["--methods", "rag,bm25"], "unknown method 'bm25'"),
        (["--methods", "memorag:beta=3"], "beta must be one of"),
        (["--ids", "nope"], "no example with id nope"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str):
    data = ["--data", str(_write_task(tmp_path / "hotpotqa.jsonl", 2))] if args else []
    result = CliRunner().invoke(cli, ["eval", *data, *args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_a_task_without_a_metric_is_refused_unless_one_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(runner, "StoreCache", FakeStoreCache)
    data = _write_task(tmp_path / "my_questions.jsonl", 1)
    result = CliRunner().invoke(cli, ["eval", "--data", str(data), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "no metric for task 'my_questions'" in result.output
    assert not (tmp_path / "out" / "predictions.jsonl").exists()
    named = CliRunner().invoke(
        cli,
        [
            "eval",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "out2"),
            "--metric",
            "exact_match",
            "--methods",
            "rag",
            "--no-progress",
        ],
    )
    assert named.exit_code == 0 and "| my_questions | EM | 1 | 100.00 |" in named.output


def test_a_run_prints_the_table_and_writes_the_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(runner, "StoreCache", FakeStoreCache)
    data = _write_task(tmp_path / "hotpotqa.jsonl", 3)
    out = tmp_path / "out"
    args = [
        "eval",
        "--data",
        str(data),
        "--methods",
        "rag,memorag:beta=16",
        "--limit",
        "2",
        "--out",
        str(out),
        "--no-progress",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "| hotpotqa | F1 | 2 | 100.00 | 100.00 |" in result.output
    assert "| task | metric | n | rag | memorag:beta=16 |" in result.output
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 4
    summary = json.loads(CliRunner().invoke(cli, [*args, "--json"]).stdout)
    assert summary["average"]["memorag:beta=16"]["score"] == 100.0 and summary["settings"]["top_k"] == 3
    refused = CliRunner().invoke(cli, [*args, "--top-k", "5"])
    assert refused.exit_code == 2 and "other settings (top_k differ" in refused.output


def test_threads_sets_torchs_cpu_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(runner, "StoreCache", FakeStoreCache)
    before = torch.get_num_threads()
    data = _write_task(tmp_path / "hotpotqa.jsonl", 1)
    try:
        result = CliRunner().invoke(
            cli,
            ["eval", "--data", str(data), "--methods", "rag", "--threads", "1", "--out", str(tmp_path / "o")],
        )
        assert result.exit_code == 0, result.output
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_default_output_folder_is_named_after_the_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(runner, "StoreCache", FakeStoreCache)
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "bench"
    folder.mkdir()
    _write_task(folder / "hotpotqa.jsonl", 1)
    result = CliRunner().invoke(cli, ["eval", "--data", "bench", "--methods", "rag", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "runs" / "eval" / "bench" / "table.md").is_file()


@pytest.mark.slow
def test_rag_and_memorag_on_two_real_benchmark_rows_then_a_resume(tmp_path: Path):
    """The embedded models on 2 MuSiQue rows cut to 1,500 characters, clues capped at 24 tokens (a memorag
    variant, which also exercises method settings); then a rerun that adds `full` answers only that method, on
    the stores the first run left (loaded, not memorized again)."""
    source = DATA_DIR / "cacheblend" / "musique.jsonl"
    if not source.is_file():
        pytest.skip(f"no benchmark data at {source} (the shared data folder sits beside the repository)")
    data = tmp_path / "musique.jsonl"
    with source.open(encoding="utf-8") as lines:
        data.write_text("".join(islice(lines, 2)), encoding="utf-8")
    out, memorag = tmp_path / "out", "memorag:max_clue_tokens=24"
    args = [
        "eval",
        "--data",
        str(data),
        "--max-context-chars",
        "1500",
        "--max-new-tokens",
        "8",
        "--top-k",
        "2",
    ]
    args += ["--out", str(out), "--no-progress", "--methods"]
    result = CliRunner().invoke(cli, [*args, f"rag,{memorag}"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    ids = ["cacheblend-musique-0", "cacheblend-musique-1"]
    assert [(r["id"], r["method"]) for r in rows] == [(i, m) for i in ids for m in ("rag", memorag)]
    for row in rows:
        assert row["error"] is None and row["prediction"].strip() and 0.0 <= row["score"] <= 1.0
        assert row["evidence"] and row["answer_in_evidence"] in (0.0, 1.0)
        assert all(0 <= e["start"] < e["end"] <= 1500 for e in row["evidence"])
        assert row["store"]["built"] and row["store"]["memorize_s"] > 0
    assert all(r["clues"] and "recall" in r["timings"] for r in rows if r["method"] == memorag)
    stores = [p for p in (out / "stores" / "musique").iterdir() if not p.name.startswith(".")]
    assert len(stores) == 4  # per example: a memory-less store for rag, a kv store for memorag

    again = CliRunner().invoke(cli, [*args, f"full,rag,{memorag}"])
    assert again.exit_code == 0, again.output
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    added = rows[4:]
    assert [(r["id"], r["method"]) for r in added] == [(i, "full") for i in ids]
    assert all(r["error"] is None and not r["store"]["built"] and not r["evidence"] for r in added)
    assert {r["store"]["dir"] for r in added} == {r["store"]["dir"] for r in rows if r["method"] == "rag"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["methods"] == ["full", "rag", memorag]
    assert all(summary["results"]["musique"][m]["n"] == 2 for m in summary["methods"])
