"""The report of an evaluation run: per task x method means (summary.json) and two Markdown tables (table.md).

Scores and shares are in percent, as LongBench prints them. `answer_recall@k` is the share of questions whose
gold answer is in one of the top k chunks of the method's queries fused by reciprocal rank (eval/runner.py), so
methods that read different amounts of evidence compare at one budget; `answer in evidence` is the share over
everything the method read. Does not compute confidence intervals.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

RECALL_KS = (3, 5)  # ranks at which answer_recall@k is reported


def peak_rss_mb() -> float | None:
    """This process's peak resident memory in MB (Linux and macOS report it in different units); None where the
    platform has no `resource` module (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)

STAGES = ("hypothesize", "recall", "retrieve", "judge", "quote", "generate")  # the order stages run in; others follow by name
METRIC_NAMES = {"qa_f1": "F1", "rouge_l": "ROUGE-L", "exact_match": "EM"}


def _mean(values: Iterable[float | None], scale: float = 1.0) -> float | None:
    present = [float(value) for value in values if value is not None]
    return round(scale * sum(present) / len(present), 3) if present else None


def _in_stage_order(seen: set[str]) -> list[str]:
    return [s for s in STAGES if s in seen] + sorted(seen - set(STAGES))


def summarize_cell(rows: Sequence[dict[str, Any]], method: str) -> dict[str, Any]:
    """Means over the rows of one task and method; scores and shares in percent (LongBench prints x100)."""
    ok = [row for row in rows if row.get("error") is None]
    return {
        "n": len(rows),
        "errors": len(rows) - len(ok),
        "metric": rows[0]["metric"],
        "score": _mean((row["score"] for row in rows), 100),
        "exact_match": _mean((row.get("exact_match") for row in rows), 100),
        "answer_in_evidence": _mean((row.get("answer_in_evidence") for row in ok), 100),
        "evidence_recall": _mean((row.get("evidence_recall") for row in ok), 100),
        "supported": _mean((row.get("supported") for row in ok), 100),
        **{
            f"answer_recall@{k}": _mean(((row.get("answer_recall") or {}).get(str(k)) for row in ok), 100)
            for k in RECALL_KS
        },
        "evidence_chars": _mean(row.get("evidence_chars") for row in ok),
        "answer_s": _mean(row.get("wall_s") for row in ok),
        "stages": {
            stage: _mean(row["timings"].get(stage) for row in ok)
            for stage in _in_stage_order({s for row in ok for s in row["timings"]})
        },
        # full reads the text; the index its store holds is not its cost
        "memorize_s": None
        if method == "full"
        else _mean((row.get("store") or {}).get("memorize_s") for row in ok),
    }


def build_summary(rows: Sequence[dict[str, Any]], methods: Sequence[str]) -> dict[str, Any]:
    """Per task x method means, and per method the average over tasks (LongBench's) and over all rows."""
    tasks = list(dict.fromkeys(row["task"] for row in rows))
    results: dict[str, dict[str, Any]] = {}
    for task in tasks:
        cells = {m: [row for row in rows if row["task"] == task and row["method"] == m] for m in methods}
        results[task] = {m: summarize_cell(cell, m) for m, cell in cells.items() if cell}
    average: dict[str, Any] = {}
    for method in methods:
        mine = [row for row in rows if row["method"] == method]
        if not mine:
            continue
        task_scores = [results[task][method]["score"] for task in tasks if method in results[task]]
        average[method] = {
            **summarize_cell(mine, method),
            "metric": None,
            "tasks": len(task_scores),
            "score": _mean(task_scores),
        }
    return {"tasks": tasks, "methods": list(methods), "results": results, "average": average}


def _number(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown_table(summary: dict[str, Any]) -> str:
    """Two Markdown tables: scores per task and method with their average, then retrieval and seconds per method."""
    methods = [m for m in summary["methods"] if m in summary["average"]]
    lines = ["| task | metric | n | " + " | ".join(methods) + " |", "|---|---|---:|" + "---:|" * len(methods)]
    for task in summary["tasks"]:
        cells = summary["results"][task]
        first = next(iter(cells.values()))
        n = max(cell["n"] for cell in cells.values())
        scores = [_number(cells[m]["score"]) if m in cells else "–" for m in methods]
        lines.append(
            f"| {task} | {METRIC_NAMES.get(first['metric'], first['metric'])} | {n} | "
            + " | ".join(scores)
            + " |"
        )
    averages = [_number(summary["average"][m]["score"]) for m in methods]
    lines.append(f"| **average** | | {len(summary['tasks'])} tasks | " + " | ".join(averages) + " |")
    stages = _in_stage_order({s for m in methods for s in summary["average"][m]["stages"]})
    head = [
        "method",
        *(f"answer R@{k} %" for k in RECALL_KS),
        "answer in evidence %",
        "supported %",
        "evidence chars",
        "memorize s",
        "answer s",
        *(f"{s} s" for s in stages),
        "errors",
    ]
    lines += ["", "| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for method in methods:
        cell = summary["average"][method]
        values = [
            *(_number(cell.get(f"answer_recall@{k}"), 1) for k in RECALL_KS),
            _number(cell["answer_in_evidence"], 1),
            _number(cell.get("supported"), 1),
            _number(cell["evidence_chars"], 0),
            _number(cell["memorize_s"], 1),
            _number(cell["answer_s"], 1),
            *(_number(cell["stages"].get(stage), 2) for stage in stages),
            str(cell["errors"]),
        ]
        lines.append(f"| {method} | " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"
