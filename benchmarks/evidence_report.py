"""Pooled answer R@3 / R@5 at an equal budget over several `memorag eval` folders (issue 16), each method named
with its retriever spelled out (a folder's run-level retriever fills in labels that do not name one), with
per-question sign tests of R@3 and R@5 against chosen baselines. With --answers (runs that wrote answers): answer
F1, the share of answers supported by their evidence, and F1 won/lost against the baselines instead.

    .venv/bin/python benchmarks/evidence_report.py runs/eval16/*-held-out-judge --baselines rag:retriever=dense \
        rag:retriever=bm25 --section evidence-heldout --write

Prints one JSON object; --write replaces the section between `<!-- evidence:NAME:start -->` and
`<!-- evidence:NAME:end -->` of docs/benchmarks.md (appended if absent).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from heldout_report import sign_test_p, write_section

from memorag.eval.methods import parse_method


def canonical(label: str, run_retriever: str) -> str:
    spec = parse_method(label)
    if spec.name in ("rag", "hyde", "memorag") and spec.retriever is None:
        from dataclasses import replace

        spec = replace(spec, retriever=run_retriever)
    return spec.label


def read(folders: list[Path]) -> dict[str, dict[str, dict[str, float]]]:
    """method -> example id -> {"3": hit, "5": hit, "f1": answer F1, "supported": 1/0/None}."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for folder in folders:
        retriever = json.loads((folder / "run.json").read_text())["retrieval"].get("retriever", "dense")
        for line in (folder / "predictions.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line) if line.strip() else None
            if not row or row.get("error") or not row.get("answer_recall"):
                continue
            table.setdefault(canonical(row["method"], retriever), {})[row["id"]] = {
                **row["answer_recall"], "f1": row.get("score") or 0.0, "supported": row.get("supported")}
    return table


def report(folders: list[Path], baselines: list[str], answers: bool = False) -> dict:
    table = read(folders)
    rows = []
    for method, hits in table.items():
        entry = {"method": method, "n": len(hits),
                 "R@3": round(100 * sum(h["3"] for h in hits.values()) / len(hits), 1),
                 "R@5": round(100 * sum(h["5"] for h in hits.values()) / len(hits), 1)}
        if answers:
            supported = [h["supported"] for h in hits.values() if h["supported"] is not None]
            entry["F1"] = round(100 * sum(h["f1"] for h in hits.values()) / len(hits), 1)
            entry["supported"] = round(100 * sum(supported) / len(supported), 1) if supported else None
        for base in baselines:
            other = table.get(base, {})
            for k in ("3", "5", *(("f1",) if answers else ())):
                won = sum(1 for i, h in hits.items() if i in other and h[k] > other[i][k])
                lost = sum(1 for i, h in hits.items() if i in other and h[k] < other[i][k])
                entry[f"{base} R@{k}" if k != "f1" else f"{base} F1"] = [won, lost, round(sign_test_p(won, lost), 3)]
        rows.append(entry)
    return {"folders": [str(f) for f in folders], "baselines": baselines, "answers": answers, "rows": rows}


def answers_markdown(result: dict) -> str:
    bases = result["baselines"]
    head = ["method", "n", "F1 %", "supported %", "R@3 %", *(f"F1 won/lost (p) vs `{b}`" for b in bases)]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for row in result["rows"]:
        duels = [f"{row[f'{b} F1'][0]}/{row[f'{b} F1'][1]} ({row[f'{b} F1'][2]:.2f})" for b in bases]
        supported = "–" if row["supported"] is None else row["supported"]
        lines.append(f"| `{row['method']}` | {row['n']} | {row['F1']} | {supported} | {row['R@3']} | "
                     + " | ".join(duels) + " |")
    return "\n".join(lines) + "\n"


def markdown(result: dict) -> str:
    if result.get("answers"):
        return answers_markdown(result)
    bases = result["baselines"]
    head = ["method", "n", "R@3 %", "R@5 %", *(f"R@3 won/lost (p) vs `{b}`" for b in bases)]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for row in result["rows"]:
        duels = [f"{row[f'{b} R@3'][0]}/{row[f'{b} R@3'][1]} ({row[f'{b} R@3'][2]:.2f})" for b in bases]
        lines.append(f"| `{row['method']}` | {row['n']} | {row['R@3']} | {row['R@5']} | " + " | ".join(duels) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--baselines", nargs="+", default=["rag:retriever=dense"])
    parser.add_argument("--section", default="evidence")
    parser.add_argument("--answers", action="store_true", help="answer F1 and support (runs that wrote answers)")
    parser.add_argument("--write", type=Path, nargs="?", const=Path("docs/benchmarks.md"), default=None)
    args = parser.parse_args()
    result = report(args.runs, args.baselines, args.answers)
    print(json.dumps(result, indent=2))
    command = "python benchmarks/evidence_report.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    table = markdown(result)
    print(table, file=sys.stderr)
    if args.write:
        write_section(args.write, args.section, command, table, kind="evidence")

if __name__ == "__main__":
    main()
