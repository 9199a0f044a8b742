"""benchmarks/heldout_report.py: per-example duels against the baseline and the merged table."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import heldout_report


def _row(example: str, method: str, score: float, r5: float | None) -> dict:
    return {"id": example, "method": method, "score": score, "answer_recall": None if r5 is None else {"5": r5}}


def test_duel_counts_wins_and_losses_per_example_and_skips_ties():
    rows = [_row("a", "rag", 0.0, 0.0), _row("a", "memorag", 0.5, 1.0),
            _row("b", "rag", 0.4, 1.0), _row("b", "memorag", 0.1, 0.0),
            _row("c", "rag", 0.2, 1.0), _row("c", "memorag", 0.2, 1.0),
            _row("d", "memorag", 1.0, 1.0)]  # no baseline row: not counted
    assert heldout_report.duel(rows, "memorag", "rag") == {"r5": [1, 1], "f1": [1, 1]}


def test_collect_and_markdown_over_an_eval_folder(tmp_path: Path):
    cell = {"n": 2, "errors": 0, "score": 25.0, "exact_match": 0.0, "answer_recall@3": 50.0, "answer_recall@5": 100.0,
            "answer_in_evidence": 50.0, "evidence_chars": 900.0, "memorize_s": 3.0, "stages": {"recall": 1.5},
            "answer_s": 4.0}
    summary = {"methods": ["rag", "memorag"], "average": {"rag": cell, "memorag": cell}, "peak_rss_mb": 1200.0}
    (tmp_path / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    rows = [_row("a", "rag", 0.0, 0.0), _row("a", "memorag", 0.5, 1.0)]
    (tmp_path / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    entries = heldout_report.collect([tmp_path], "rag")
    assert [e["method"] for e in entries] == ["rag", "memorag"]
    assert entries[1]["vs_baseline"] == {"r5": [1, 0], "f1": [1, 0]} and entries[0]["vs_baseline"] is None
    table = heldout_report.markdown(entries, "rag")
    assert f"| {tmp_path.name} | `memorag` | 2 | 25.00 | 0.0 | 50.0 | 100.0 | 50.0 | 900 | 3.0 | 1.5 | 4.0 | 1/0 | 1.00 | 1/0 |" in table
    docs = tmp_path / "bench.md"
    docs.write_text("# B\n\n<!-- heldout:x:start -->\nold\n<!-- heldout:x:end -->\ntail\n", encoding="utf-8")
    heldout_report.write_section(docs, "x", "cmd", table)
    text = docs.read_text(encoding="utf-8")
    assert "old" not in text and "    cmd" in text and text.endswith("<!-- heldout:x:end -->\ntail\n")


def test_sign_test_p_is_the_exact_two_sided_binomial_tail():
    assert heldout_report.sign_test_p(0, 0) == 1.0
    assert heldout_report.sign_test_p(5, 0) == 2 / 32  # 2 * 0.5**5
    assert heldout_report.sign_test_p(1, 7) == heldout_report.sign_test_p(7, 1) == 2 * 9 / 256  # (1 + 8) / 2**8
    assert heldout_report.sign_test_p(3, 3) == 1.0


def test_pool_counts_rows_of_every_folder_against_each_folders_own_baseline_and_an_example_once(tmp_path: Path):
    for name, rows in {"a": [_row("x", "rag", 0, 0.0), _row("x", "memorag", 0, 1.0)],
                       "b": [_row("y", "rag", 0, 1.0), _row("y", "memorag", 0, 1.0),
                             _row("x", "rag", 0, 1.0), _row("x", "memorag", 0, 1.0)]}.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / "summary.json").write_text(json.dumps({"methods": ["rag", "memorag"]}), encoding="utf-8")
        (folder / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    rag, memorag = heldout_report.pool([tmp_path / "a", tmp_path / "b"], "rag")
    # example x is in both folders: it counts once, from folder a (where memorag wins it)
    assert (rag["n"], rag["r5"], rag["vs_baseline"]) == (2, 50.0, None)
    assert (memorag["sets"], memorag["n"], memorag["r5"], memorag["vs_baseline"]) == (2, 2, 100.0, [1, 0])
    assert "| `memorag` | 2 | 2 | – | 100.0 | 1/0 | 1.00 |" in heldout_report.pooled_markdown([rag, memorag], "rag")


def test_the_ceiling_counts_examples_whose_answer_is_in_some_chunk(tmp_path: Path):
    store = tmp_path / "stores" / "s1"
    store.mkdir(parents=True)
    (store / "chunks.json").write_text(json.dumps([{"text": "The code is 42."}, {"text": "Nothing."}]))
    rows = [{"id": "a", "answers": ["42"], "store": {"dir": "stores/s1"}},
            {"id": "a", "answers": ["42"], "store": {"dir": "stores/s1"}},  # one example, counted once
            {"id": "b", "answers": ["77"], "store": {"dir": "stores/s1"}},
            {"id": "c", "answers": ["77"], "store": None}]  # a failed row: no store to look in
    assert heldout_report.ceiling(tmp_path, rows) == (1, 2)


def test_the_grid_puts_each_memory_setting_on_a_line_and_each_strategy_in_a_column(tmp_path: Path):
    methods = ["rag", "hyde", "memorag:beta=4", "memorag:beta=4,recall=copy", "memorag:beta=1,kind=full,recall=attention"]
    rows = [_row("x", "rag", 0, 0.0), _row("x", "hyde", 0, 1.0), _row("x", "memorag:beta=4", 0, 1.0),
            _row("x", "memorag:beta=4,recall=copy", 0, 0.0), _row("y", "rag", 0, 1.0),
            _row("y", "memorag:beta=4", 0, 1.0), _row("y", "memorag:beta=4,recall=copy", 0, 0.0),
            _row("y", "memorag:beta=1,kind=full,recall=attention", 0, 1.0)]
    (tmp_path / "summary.json").write_text(json.dumps({"methods": methods}), encoding="utf-8")
    (tmp_path / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    table = heldout_report.grid(heldout_report.pool([tmp_path], "rag"), "rag")
    assert table["strategies"] == ["generate", "copy", "attention"]
    assert list(table["settings"]) == ["memorag:beta=4", "memorag:beta=1,kind=full"]
    assert [e["method"] for e in table["references"]] == ["rag", "hyde"]
    text = heldout_report.grid_markdown(table, "rag")
    assert "| `memorag:beta=4` | 100.0 (1/0) | 0.0 (0/1) | – |" in text
    assert "| `memorag:beta=1,kind=full` | – | – | 100.0 (0/0, n 1) |" in text
    assert "`rag` 50.0 (1 folder), `hyde` 100.0 (1 folder)" in text
