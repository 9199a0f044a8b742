"""benchmarks/rescore_recall.py: R@k scored again from a folder's records, with the eval's own function."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import rescore_recall

from memorag.config import RetrievalConfig, config_to_dict
from memorag.retrieval import Retriever
from memorag.types import Document


def _row(method: str, clues: list[str], stale: float) -> dict[str, Any]:
    return {"id": "q1", "task": "qa", "method": method, "question": "Which models were compared?",
            "prediction": "", "answers": ["a BiLSTM and a CNN against an SVM"], "metric": "qa_f1", "score": None,
            "exact_match": None, "answer_recall": {"3": stale, "5": stale}, "error": None,
            "clues": [{"kind": "span", "text": c, "strategy": "copy"} for c in clues],
            "store": {"dir": "stores/s"}, "timings": {}, "wall_s": 0.0, "evidence_chars": 0}


def test_rows_are_rescored_by_the_current_rule_and_the_summary_keeps_the_runs_settings(
    tmp_path: Path, hashing_embedder: Any
):
    config = RetrievalConfig(chunk_tokens=16, chunk_overlap=0)
    embedder = hashing_embedder
    filler = " ".join(f"Section {n} describes the weather on day {n}." for n in range(12))
    text = filler + " Our models are a BiLSTM and a CNN, tested against an SVM baseline. " + filler
    retriever = Retriever(embedder, config)
    retriever.build([Document("d", text)])
    retriever.save(tmp_path / "stores" / "s")
    (tmp_path / "run.json").write_text(json.dumps({"retrieval": config_to_dict(config)}))
    rows = [_row("rag", [], 0.0), _row("memorag", ["the weather on day 3"], 0.0)]
    (tmp_path / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "summary.json").write_text(json.dumps({"methods": ["rag", "memorag"], "peak_rss_mb": 123.0,
                                                       "settings": {"top_k": 3}}))
    report = rescore_recall.rescore_folder(tmp_path, embedder)
    rescored = {r["method"]: r["answer_recall"] for r in map(json.loads, (tmp_path / "predictions.jsonl").open())}
    assert rescored["rag"] == {"3": 1.0, "5": 1.0}  # the abstractive answer's chunk is the question's top hit
    assert rescored["memorag"] == {"3": 0.0, "5": 0.0}  # chunks both queries rank outscore it in the fusion
    assert report == {"folder": str(tmp_path), "rows": 2, "changed": 1}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["peak_rss_mb"] == 123.0 and summary["settings"] == {"top_k": 3}
    assert summary["average"]["rag"]["answer_recall@5"] == 100.0 and (tmp_path / "table.md").is_file()
