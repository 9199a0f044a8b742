"""benchmarks/grid_summary.py: the grid pooled from the per-folder tables heldout_report wrote into the docs."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import grid_summary

HEAD = "| run | method | n | F1 | EM | R@3 % | R@5 % | in evidence | chars | mem s | recall s | answer s | won/lost | p | F1 |"
TABLES = "\n".join([
    "# Benchmarks", HEAD, "|---|---|" + "---:|" * 13,
    "| a-heldout | `rag` | 4 | – | – | 25.0 | 50.0 | 0.0 | 2600 | 1.0 | – | 0.0 | – | – | – |",
    "| a-heldout | `memorag:beta=8` | 4 | – | – | 25.0 | 75.0 | 0.0 | 7000 | 9.0 | 7.0 | 7.0 | 1/0 | 1.00 | 0/0 |",
    "| a-heldout-full | `rag` | 4 | – | – | 0.0 | 0.0 | 0.0 | 2600 | 1.0 | – | 0.0 | – | – | – |",  # a repeat
    ("| a-heldout-full | `memorag:beta=1,kind=full,recall=copy` | 4 (2 failed) | – | – | 50.0 | 50.0 | 0.0 | 1 | 1.0"
    " | 1.0 | 1.0 | 0/1 | 1.00 | 0/0 |"),
    "| b-heldout | `rag` | 3 | 1.00 | 0.0 | 33.3 | 33.3 | 0.0 | 2600 | 1.0 | – | 4.0 | – | – | – |",
    "| b-heldout | `memorag:beta=8` | 3 | 2.00 | 0.0 | 66.7 | 66.7 | 0.0 | 7000 | 9.0 | 7.0 | 7.0 | 1/0 | 1.00 | 1/0 |",
    "| c-heldout | `rag` | 9 | – | – | 0.0 | 0.0 | 0.0 | 2600 | 1.0 | – | 0.0 | – | – | – |",  # not asked for
    "| `rag` | 2 | 7 | 28.6 | 42.9 | – | – |",  # a pooled table's row: not a folder row
])


def test_folder_rows_read_back_the_rows_scored_and_the_hits():
    rows = grid_summary.folder_rows(TABLES)
    assert [(r["set"], r["method"]) for r in rows][:2] == [("a", "rag"), ("a", "memorag:beta=8")]
    assert len(rows) == 7
    copy = rows[3]
    assert (copy["scored"], copy["hits"], copy["won_lost"]) == (2, 1, [0, 1])  # failed rows are not scored
    assert rows[5]["hits"] == 2 and rows[0]["won_lost"] is None  # 66.7 % of 3 rows


def test_the_pool_keeps_the_first_row_of_a_set_and_sums_the_sets():
    entries = {e["method"]: e for e in grid_summary.pool_rows(grid_summary.folder_rows(TABLES), ["a", "b"], "rag")}
    assert (entries["rag"]["sets"], entries["rag"]["n"], round(entries["rag"]["r5"], 1)) == (2, 7, 42.9)
    generate = entries["memorag:beta=8"]
    assert (generate["n"], round(generate["r5"], 1), generate["vs_baseline"]) == (7, 71.4, [2, 0])
    assert entries["memorag:beta=1,kind=full,recall=copy"]["n"] == 2


def test_the_grid_is_written_into_its_section(tmp_path: Path):
    docs = tmp_path / "bench.md"
    docs.write_text(TABLES + "\n", encoding="utf-8")
    assert grid_summary.main(["--tables", str(docs), "--sets", "a,b", "--section", "g", "--write", str(docs)]) == 0
    text = docs.read_text(encoding="utf-8")
    assert "| `memorag:beta=8` | 71.4 (2/0) | – |" in text
    assert "| `memorag:beta=1,kind=full` | – | 50.0 (0/1, n 2) |" in text
    assert "`rag` 42.9 (2 sets)" in text and "<!-- heldout:g:end -->" in text
