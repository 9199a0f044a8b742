"""Score answer R@3/R@5 again in finished `memorag eval` folders, from what they recorded, with the current rule.

    .venv/bin/python benchmarks/rescore_recall.py runs/eval/musique-heldout runs/eval/scientific_qa-heldout

`answer_recall` in predictions.jsonl is computed when a row is answered. When the rule changes (answer-bearing
chunks now include, for abstractive answers, the chunk covering most of the answer: memorag.eval.metrics.
answer_bearing), this re-scores every row without running a model: the row's question and recorded clues (or HyDE
passage) search its own store's index again (MiniLM), a control re-ranks by its own order, and the same function
as the eval (`memorag.eval.runner.answer_recall`) decides. predictions.jsonl is rewritten (to a temporary file,
then renamed) and summary.json and table.md rebuilt; the settings and peak RSS of the original run are kept.
Prints, per folder, how many rows changed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any


class FolderStores:
    """A finished eval folder's rows (predictions.jsonl) and, per row, its store's index, loaded once each with the
    run's retrieval settings (run.json); no model beyond the embedder."""

    def __init__(self, folder: Path, embedder: Any) -> None:
        from memorag.config import RetrievalConfig, config_from_dict
        from memorag.eval.runner import PREDICTIONS, RUN_SETTINGS

        self.folder, self.embedder = Path(folder), embedder
        settings = json.loads((self.folder / RUN_SETTINGS).read_text(encoding="utf-8"))
        self.config = config_from_dict(RetrievalConfig, settings["retrieval"])
        lines = (self.folder / PREDICTIONS).read_text(encoding="utf-8").splitlines()
        self.rows = [json.loads(line) for line in lines if line.strip()]
        self._open: dict[str, Any] = {}

    def retriever(self, row: dict[str, Any]) -> Any:
        from memorag.retrieval import Retriever

        store = row["store"]["dir"]
        if store not in self._open:
            self._open[store] = Retriever.load(self.folder / store, self.embedder, self.config)
        return self._open[store]


def rescore_folder(folder: Path, embedder: Any) -> dict[str, Any]:
    from memorag.eval.datasets import EvalExample
    from memorag.eval.methods import CONTROLS
    from memorag.eval.report import build_summary, markdown_table
    from memorag.eval.runner import PREDICTIONS, SUMMARY, TABLE, answer_recall
    from memorag.types import Answer, Clue

    stores = FolderStores(folder, embedder)
    rows = stores.rows
    changed = 0
    for row in rows:
        if row.get("error") or row.get("answer_recall") is None or not row.get("store"):
            continue  # failed rows, summaries and the full method have no R@k
        example = EvalExample(row["id"], row["question"], "", tuple(row["answers"]), row["task"], 0)
        clues = tuple(Clue(c["text"], c["kind"], c.get("strategy", "generate")) for c in row.get("clues", []))
        control = row["method"] if row["method"] in CONTROLS else None
        answer = Answer(row["question"], row["prediction"], row["method"], clues)
        recall = answer_recall(stores.retriever(row), example, answer, control)
        changed += recall != row["answer_recall"]
        row["answer_recall"] = recall
    temporary = folder / f".{PREDICTIONS}.{os.getpid()}.tmp"
    temporary.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    os.replace(temporary, folder / PREDICTIONS)
    old = json.loads((folder / SUMMARY).read_text(encoding="utf-8"))
    summary = build_summary([r for r in rows if r["method"] in old["methods"]], old["methods"])
    summary["settings"], summary["peak_rss_mb"] = old.get("settings"), old.get("peak_rss_mb")
    (folder / SUMMARY).write_text(json.dumps(summary, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    (folder / TABLE).write_text(markdown_table(summary), encoding="utf-8")
    return {"folder": str(folder), "rows": len(rows), "changed": changed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="finished memorag eval output folders")
    args = parser.parse_args(argv)
    from memorag.config import RetrievalConfig
    from memorag.retrieval import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(RetrievalConfig().embedder)
    report = [rescore_folder(folder, embedder) for folder in args.runs]
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
