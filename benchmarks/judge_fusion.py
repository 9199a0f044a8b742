"""The judge's `prior` (JudgeConfig.prior) chosen offline: a judged method's pools, recorded by `memorag eval`
(each row's `pool`: chunk id, judge score, answer-bearing, in the retriever's order), re-ranked by
`memorag.retrieval.judge.judged_order` for every prior given, scored R@3 / R@5 with per-question sign tests
against baselines in the same folders. The ranking is the one `ask` makes with that prior, so a prior chosen here
on train halves is what the product does; re-run the held-out halves with it to confirm.

    python benchmarks/judge_fusion.py runs/eval16p/*-train --method "memorag:kind=none,recall=none" \
        --priors 0 0.5 1 2 100 --baselines rag:retriever=dense rag:retriever=bm25 --section fusion-train --write

Prints one JSON object; --write puts the table into docs/benchmarks.md between `<!-- evidence:NAME:start -->` and
`<!-- evidence:NAME:end -->`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from evidence_report import canonical, read
from heldout_report import emit, sign_test_p

from memorag.retrieval.judge import judged_order

KS = ("3", "5")


def judged_rows(folders: list[Path], method: str) -> dict[str, tuple[Path, dict[str, Any]]]:
    """example id -> (its eval folder, its prediction row) for the rows of `method` (its canonical label) that
    recorded a judged pool."""
    found: dict[str, tuple[Path, dict[str, Any]]] = {}
    for folder in folders:
        retriever = json.loads((folder / "run.json").read_text())["retrieval"].get("retriever", "dense")
        wanted = canonical(method, retriever)
        for line in (folder / "predictions.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line) if line.strip() else None
            if row and not row.get("error") and row.get("pool") and canonical(row["method"], retriever) == wanted:
                found[row["id"]] = (folder, row)
    return found


def pools(folders: list[Path], method: str) -> dict[str, list[list[Any]]]:
    """example id -> the judged pool of `method`: [chunk id, judge score, answer-bearing] in the retriever's order."""
    return {qid: row["pool"] for qid, (_, row) in judged_rows(folders, method).items()}


def hits(pool: list[list[Any]], prior: float) -> dict[str, float]:
    order = judged_order([float(score) for _, score, _ in pool], prior)
    return {k: float(any(pool[i][2] for i in order[: int(k)])) for k in KS}


def recall(per_question: dict[str, dict[str, float]]) -> dict[str, float]:
    """R@3 and R@5 in percent over the questions' hits ({"3": hit, "5": hit} each; 0 for no questions)."""
    return {f"R@{k}": round(100 * sum(h[k] for h in per_question.values()) / max(len(per_question), 1), 1)
            for k in KS}


def duel(mine: dict[str, dict[str, float]], other: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Won / lost at R@3 over the questions both have, and the two-sided sign test's p."""
    shared = [qid for qid in mine if qid in other]
    won = sum(mine[q]["3"] > other[q]["3"] for q in shared)
    lost = sum(mine[q]["3"] < other[q]["3"] for q in shared)
    return {"won": won, "lost": lost, "p": round(sign_test_p(won, lost), 2)}


def report(folders: list[Path], method: str, priors: list[float], baselines: list[str]) -> dict[str, Any]:
    judged = pools(folders, method)
    if not judged:
        raise SystemExit(f"no rows of {method!r} with a recorded pool in {[str(f) for f in folders]}")
    table = read(folders)
    rows = []
    for prior in priors:
        per_question = {qid: hits(pool, prior) for qid, pool in judged.items()}
        entry: dict[str, Any] = {"prior": prior, "n": len(per_question), **recall(per_question)}
        for baseline in baselines:
            entry[f"vs {baseline}"] = duel(per_question, table.get(baseline, {}))
        rows.append(entry)
    base = [{"method": b, "n": len(table[b]), **recall(table[b])} for b in baselines if b in table]
    return {"method": method, "rows": rows, "baselines": base}


def markdown(result: dict[str, Any]) -> str:
    baselines = [b["method"] for b in result["baselines"]]
    head = "| ranking | n | R@3 % | R@5 % |" + "".join(f" R@3 won/lost (p) vs `{b}` |" for b in baselines)
    lines = [head, "|---|---:|---:|---:|" + "---:|" * len(baselines)]
    for b in result["baselines"]:
        lines.append(f"| `{b['method']}` | {b['n']} | {b['R@3']} | {b['R@5']} |" + " |" * len(baselines))
    for row in result["rows"]:
        duels = "".join(f" {d['won']}/{d['lost']} ({d['p']:.2f}) |" for d in (row[f"vs {b}"] for b in baselines))
        lines.append(f"| `{result['method']}`, prior {row['prior']:g} | {row['n']} | {row['R@3']} | {row['R@5']} |"
                     + duels)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--method", required=True, help="the judged method's label, as in --methods")
    parser.add_argument("--priors", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0, 100.0])
    parser.add_argument("--baselines", nargs="+", default=["rag:retriever=dense", "rag:retriever=bm25"])
    parser.add_argument("--section", default="fusion")
    parser.add_argument("--write", type=Path, nargs="?", const=Path("docs/benchmarks.md"), default=None)
    args = parser.parse_args(argv)
    result = report(args.runs, args.method, args.priors, args.baselines)
    emit(result, markdown(result), "judge_fusion.py", args.write, args.section, argv, kind="evidence")


if __name__ == "__main__":
    main()
