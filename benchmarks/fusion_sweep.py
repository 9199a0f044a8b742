"""How much the question should weigh against the clues: a sweep of the fusion weight, chosen on some held-out
sets and reported on others.

    .venv/bin/python benchmarks/fusion_sweep.py --choose runs/eval/musique-heldout \
        --report runs/eval/2wikimqa-heldout runs/eval/hotpotqa-heldout --weights 1,2,4,8

`answer R@k` in `memorag eval` fuses the question and a method's clues (or HyDE's passage) by reciprocal rank,
each query counting once. Here the question counts `w` times instead (`RetrievalConfig(fusion="rrf",
question_weight=w)` in the pipeline), for every w of --weights, re-scored from what the eval folders recorded:
each row's queries (its question and clues, as written in predictions.jsonl) search the row's own store again
(MiniLM and the saved index only; no memory model runs). For each method, the weight with the best R@5 pooled
over the --choose folders (ties: the smaller weight) is then reported on the --report folders, so no figure is
quoted from the rows its weight was chosen on. `rag` (the question alone, the same at every weight) is scored
too, as the reference; and the one best memorag configuration (method and weight, by pooled R@5 on the --choose
folders) is reported on the --report folders against `rag` on the same rows, with the sign test of the rows
either one wins. Prints one JSON object; with --write, a Markdown table replaces the section
`<!-- fusion:NAME:start -->` ... `<!-- fusion:NAME:end -->` of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from memorag.eval.report import RECALL_KS as KS
from memorag.eval.runner import RECALL_DEPTH as DEPTH  # hits per query, as the eval's R@k


def recall_at(per_query: Sequence[Any], chunks: Sequence[Any], bearing: set[int], weight: float
              ) -> dict[str, float]:
    """{"3": 1.0 or 0.0, "5": ...}: an answer-bearing chunk (ids in `bearing`, memorag.eval.metrics.answer_bearing)
    in the top k chunks when the first query (the question) weighs `weight`: the eval's own fused recall."""
    from memorag.eval.runner import fused_recall

    return fused_recall(per_query, chunks, bearing, [weight] + [1.0] * (len(per_query) - 1))


BASELINE = "rag"  # the question alone: scored as the reference the best configuration is paired with


def sweep(folder: Path, weights: Sequence[float], embedder: Any) -> dict[str, dict[float, list[dict[str, Any]]]]:
    """{method: {weight: [per-row {"id": row id, k: hit}]}} for the rows of `folder` whose method wrote queries
    besides the question (memorag variants, hyde), and for `rag` (the question alone); rows that failed are
    skipped."""
    from rescore_recall import FolderStores  # benchmarks/ is on sys.path when this script runs

    from memorag.eval.metrics import answer_bearing

    stores = FolderStores(folder, embedder)
    result: dict[str, dict[float, list[dict[str, Any]]]] = {}
    for row in stores.rows:
        if row.get("error") or not row.get("store") or not (row.get("clues") or row["method"] == BASELINE):
            continue
        retriever = stores.retriever(row)
        per_query = retriever.search([row["question"], *(clue["text"] for clue in row.get("clues") or [])], DEPTH)
        bearing = answer_bearing([chunk.text for chunk in retriever.chunks], row["answers"])
        for weight in weights:
            hits = recall_at(per_query, retriever.chunks, bearing, weight)
            result.setdefault(row["method"], {}).setdefault(weight, []).append({"id": row["id"], **hits})
    return result


def pooled(sweeps: Sequence[dict[str, dict[float, list[dict[str, Any]]]]], method: str, weight: float
           ) -> dict[str, Any]:
    rows = [hits for one in sweeps for hits in one.get(method, {}).get(weight, [])]
    return {"n": len(rows), **{f"r{k}": 100 * sum(r[str(k)] for r in rows) / len(rows) if rows else None for k in KS}}


def choose_and_report(chosen: Sequence[dict], reported: Sequence[dict], weights: Sequence[float]
                      ) -> list[dict[str, Any]]:
    methods = sorted({m for one in [*chosen, *reported] for m in one})
    table = []
    for method in methods:
        on_choose = {w: pooled(chosen, method, w) for w in weights}
        candidates = [w for w in weights if on_choose[w]["n"]]
        if not candidates:
            continue
        best = max(candidates, key=lambda w: (on_choose[w]["r5"], -w))
        table.append({"method": method, "chosen_weight": best,
                      "choose": {str(w): on_choose[w] for w in weights},
                      "report": {str(w): pooled(reported, method, w) for w in weights}})
    return table


def best_configuration(table: Sequence[dict[str, Any]], reported: Sequence[dict], weights: Sequence[float]
                       ) -> dict[str, Any] | None:
    """The memorag method (strategy and memory settings) and weight with the best pooled R@5 on the choose side
    (ties: the smaller weight, then the method name), and on the report side its R@5 and `rag`'s over the rows both
    have, with the rows each one wins and the sign test's p. Baselines (`rag`, `hyde`) are never chosen; None when
    no memorag method was scored."""
    candidates = sorted((-entry["choose"][str(w)]["r5"], w, entry["method"]) for entry in table
                        if entry["method"].startswith("memorag") for w in weights if entry["choose"][str(w)]["n"])
    if not candidates:
        return None
    (minus_r5, weight, method), *_ = candidates
    chosen_r5 = -minus_r5
    won = lost = both = mine = theirs = 0
    for one in reported:
        base = {hits["id"]: hits["5"] for hits in one.get(BASELINE, {}).get(weights[0], [])}
        for hits in one.get(method, {}).get(weight, []):
            if hits["id"] not in base:
                continue
            both, mine, theirs = both + 1, mine + hits["5"], theirs + base[hits["id"]]
            won, lost = won + (hits["5"] > base[hits["id"]]), lost + (hits["5"] < base[hits["id"]])
    from heldout_report import sign_test_p  # benchmarks/ is on sys.path when this script runs

    return {"method": method, "weight": weight, "choose_r5": chosen_r5, "n": both,
            "r5": 100 * mine / both if both else None, "baseline_r5": 100 * theirs / both if both else None,
            "won": won, "lost": lost, "p": sign_test_p(won, lost)}


def markdown(table: Sequence[dict[str, Any]], weights: Sequence[float]) -> str:
    head = ["method", "weight chosen", "n chosen on", "n reported on",
            *(f"R@5 % w={_w(w)}" for w in weights), "R@5 % at the chosen weight"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for entry in table:
        report = entry["report"]
        n_choose = entry["choose"][str(entry["chosen_weight"])]["n"]
        cells = [_pct(report[str(w)]["r5"]) for w in weights]
        lines.append("| " + " | ".join([f"`{entry['method']}`", _w(entry["chosen_weight"]), str(n_choose),
                                        str(report[str(weights[0])]["n"]), *cells,
                                        _pct(report[str(entry["chosen_weight"])]["r5"])]) + " |")
    return "\n".join(lines) + "\n"


def best_line(best: dict[str, Any] | None) -> str:
    if best is None:
        return ""
    return (f"\nBest configuration on the choose side: `{best['method']}` with the question weighted "
            f"{_w(best['weight'])} (R@5 {_pct(best['choose_r5'])}). On the report side it reaches R@5 "
            f"{_pct(best['r5'])} against `{BASELINE}`'s {_pct(best['baseline_r5'])} on the same {best['n']} rows "
            f"({best['won']} won, {best['lost']} lost, sign test p {best['p']:.2f}).\n")


def _w(weight: float) -> str:
    return f"{weight:g}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--choose", nargs="+", type=Path, required=True, help="eval folders the weight is chosen on")
    parser.add_argument("--report", nargs="+", type=Path, required=True, help="eval folders it is reported on")
    parser.add_argument("--weights", default="1,2,4,8", help="question weights to try, comma-separated")
    parser.add_argument("--section", default="fusion", help="name of the section --write replaces")
    parser.add_argument("--write", nargs="?", type=Path, const=Path("docs/benchmarks.md"), default=None)
    args = parser.parse_args(argv)
    weights = [float(w) for w in args.weights.split(",")]
    if set(args.choose) & set(args.report):
        parser.error("a folder cannot be both chosen on and reported on")
    from memorag.config import RetrievalConfig
    from memorag.retrieval import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(RetrievalConfig().embedder)
    chosen = [sweep(folder, weights, embedder) for folder in args.choose]
    reported = [sweep(folder, weights, embedder) for folder in args.report]
    table = choose_and_report(chosen, reported, weights)
    best = best_configuration(table, reported, weights)
    text = markdown(table, weights) + best_line(best)
    from heldout_report import emit  # benchmarks/ is on sys.path when this script runs

    result = {"weights": weights, "choose": [str(f) for f in args.choose], "report": [str(f) for f in args.report],
              "methods": table, "best": best}
    emit(result, text, "fusion_sweep.py", args.write, args.section, argv, kind="fusion")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
