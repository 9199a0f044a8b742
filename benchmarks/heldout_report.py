"""One table from several `memorag eval` output folders run on the same examples (a held-out half, say).

    .venv/bin/python benchmarks/heldout_report.py runs/eval/musique-heldout runs/eval/musique-heldout-trained \
        --baseline rag --section musique-heldout --write

For every (folder, method): n (and how many rows failed: their R@k is left out of the means, their F1 counts 0),
answer F1 and EM, answer R@3/R@5 (an answer-bearing chunk in the top k chunks of
the method's fused queries), answer in evidence, evidence characters, memorize / recall / answer seconds, and
against the baseline method *of the same folder*, per example: R@5 and F1 won / lost, and the two-sided exact
sign test's p of the R@5 duel; under the table, how many examples have an answer-bearing chunk (the R@k
ceiling). A method that appears in several folders (rag) is listed once per folder; its figures should agree
(same settings, same examples). `--pool` instead gives one row per method over the rows of every folder
(the held-out halves of several sets at once): n, R@3, R@5, R@5 won/lost and p. `--grid` arranges those pooled
rows as the issue's grid: one line per memory setting (kind, beta, model, adapter), one column per recall strategy,
each cell R@5 with won/lost against the baseline, and the baselines' R@5 on a reference line.
Prints one JSON object on stdout and the Markdown table on stderr; --write replaces the section between the
markers `<!-- heldout:NAME:start -->` and `<!-- heldout:NAME:end -->` of docs/benchmarks.md (appended if absent).
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any

MARKERS = "<!-- {kind}:{section}:start -->", "<!-- {kind}:{section}:end -->"


def read_run(folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    rows = [json.loads(line) for line in (folder / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]
    return summary, rows


def duel(rows: list[dict[str, Any]], method: str, baseline: str) -> dict[str, list[int]]:
    """[won, lost] of `method` against `baseline` per example, on R@5 and on F1 (ties not counted)."""
    base = {row["id"]: row for row in rows if row["method"] == baseline}
    result = {"r5": [0, 0], "f1": [0, 0]}
    for row in rows:
        other = base.get(row["id"])
        if row["method"] != method or other is None:
            continue
        pairs = {"r5": ((row.get("answer_recall") or {}).get("5"), (other.get("answer_recall") or {}).get("5")),
                 "f1": (row["score"], other["score"])}
        for key, (mine, theirs) in pairs.items():
            if mine is None or theirs is None or mine == theirs:
                continue
            result[key][0 if mine > theirs else 1] += 1
    return result


def sign_test_p(won: int, lost: int) -> float:
    """Two-sided exact sign test of `won` against `lost` paired outcomes (ties dropped): the chance of a split at
    least this uneven if either side were equally likely to win each one."""
    n = won + lost
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(won, lost) + 1)) / 2**n
    return min(1.0, 2 * tail)


def pool(folders: list[Path], baseline: str) -> list[dict[str, Any]]:
    """Per method label, over the rows of every folder that has it (several held-out sets at once): n, R@3, R@5,
    and R@5 won/lost against the baseline of each row's own folder, with the sign test's p. An example that a
    method has in two folders (rag, or a setting run again beside others) counts once, from the first folder."""
    pooled: dict[str, dict[str, Any]] = {}
    for folder in folders:
        summary, rows = read_run(folder)
        for method in summary["methods"]:
            entry = pooled.setdefault(method, {"method": method, "sets": [], "rows": [], "r5": [0, 0], "ids": set()})
            new = {r["id"] for r in rows if r["method"] == method} - entry["ids"]  # a row in two folders counts once
            entry["ids"] |= new
            entry["sets"].append(folder.name)
            entry["rows"] += [r for r in rows if r["method"] == method and r["id"] in new and r.get("error") is None]
            if method != baseline:
                won, lost = duel([r for r in rows if r["id"] in new], method, baseline)["r5"]
                entry["r5"] = [entry["r5"][0] + won, entry["r5"][1] + lost]
    result = []
    for method, entry in pooled.items():
        recalls = [r.get("answer_recall") or {} for r in entry["rows"]]
        share = {k: _share([r.get(k) for r in recalls]) for k in ("3", "5")}
        result.append({"method": method, "sets": len(entry["sets"]), "n": len(entry["rows"]), "r3": share["3"],
                       "r5": share["5"], "vs_baseline": None if method == baseline else entry["r5"],
                       "p": None if method == baseline else sign_test_p(*entry["r5"])})
    return result


def _share(values: list[Any]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return 100 * sum(present) / len(present) if present else None


def pooled_markdown(entries: list[dict[str, Any]], baseline: str) -> str:
    head = ["method", "sets", "n", "R@3 %", "R@5 %", f"R@5 won/lost vs {baseline}", "sign test p"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for e in entries:
        duel_cell = "–" if e["vs_baseline"] is None else "{}/{}".format(*e["vs_baseline"])
        lines.append("| " + " | ".join([f"`{e['method']}`", str(e["sets"]), str(e["n"]), _f(e["r3"]), _f(e["r5"]),
                                        duel_cell, _f(e["p"], 2)]) + " |")
    return "\n".join(lines) + "\n"


def grid(entries: list[dict[str, Any]], baseline: str) -> dict[str, Any]:
    """Pooled entries as {"strategies", "settings": {setting: {strategy: entry}}, "references": [entry]}: a memorag
    method's setting is its label without the recall strategy ("memorag" alone is the default memory)."""
    from memorag.eval.methods import MethodSpec, parse_method
    from memorag.recall import STRATEGIES

    settings: dict[str, dict[str, dict[str, Any]]] = {}
    references = []
    for entry in entries:
        spec = parse_method(entry["method"])
        if spec.name != "memorag":
            references.append(entry)
            continue
        setting = MethodSpec(spec.name, spec.memory).label
        settings.setdefault(setting, {})[spec.recall] = entry
    used = [s for s in STRATEGIES if any(s in cells for cells in settings.values())]
    references.sort(key=lambda e: e["method"] != baseline)
    return {"strategies": used, "settings": settings, "references": references}


def grid_markdown(table: dict[str, Any], baseline: str, unit: str = "folder") -> str:
    """One line per memory setting, one column per strategy; a cell is R@5 % (won/lost vs the baseline), with n
    where it is under the most rows any method of the grid has (failed rows: a context too long for the model)."""
    most = max([e["n"] for cells in table["settings"].values() for e in cells.values()], default=0)
    head = ["memory setting", *table["strategies"]]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * len(table["strategies"])]
    for setting, cells in table["settings"].items():
        row = [f"`{setting}`"]
        for strategy in table["strategies"]:
            e = cells.get(strategy)
            if e is None:
                row.append("–")
                continue
            n = f", n {e['n']}" if e["n"] < most else ""
            row.append(f"{_f(e['r5'])} ({e['vs_baseline'][0]}/{e['vs_baseline'][1]}{n})")
        lines.append("| " + " | ".join(row) + " |")
    refs = ", ".join(f"`{e['method']}` {_f(e['r5'])} ({e['sets']} {unit}{'s' if e['sets'] != 1 else ''})"
                     for e in table["references"])
    lines.append(f"\nR@5 % pooled over the {unit}s (each example once); in brackets R@5 won/lost against `{baseline}` "
                 f"of each row's {unit}, and n where a cell has fewer rows than the grid's fullest ({most}). "
                 f"References on the same rows: {refs}.")
    return "\n".join(lines) + "\n"


def _chunks_file(store: Path) -> Path:
    """chunks.json of a store: in its data folder (format v2), or beside the manifest (v1)."""
    from memorag.store import data_dir, is_store, read_manifest

    return (data_dir(store, read_manifest(store)) if is_store(store) else store) / "chunks.json"


def ceiling(folder: Path, rows: list[dict[str, Any]]) -> tuple[int, int]:
    """(examples with an answer-bearing chunk in their store, examples): the most any R@k can reach."""
    from memorag.eval.metrics import answer_bearing

    found: dict[str, bool] = {}
    for row in rows:
        store = (row.get("store") or {}).get("dir")
        chunks_file = _chunks_file(folder / store) if store else None
        if row["id"] in found or chunks_file is None or not chunks_file.is_file():
            continue
        chunks = json.loads(chunks_file.read_text(encoding="utf-8"))
        found[row["id"]] = bool(answer_bearing([chunk["text"] for chunk in chunks], row["answers"]))
    return sum(found.values()), len(found)


def collect(folders: list[Path], baseline: str) -> list[dict[str, Any]]:
    entries = []
    for folder in folders:
        summary, rows = read_run(folder)
        for method in summary["methods"]:
            cell = summary["average"].get(method)
            if not cell:
                continue
            entries.append({
                "run": folder.name, "method": method, "n": cell["n"], "errors": cell["errors"],
                "f1": cell["score"], "em": cell["exact_match"],
                "r3": cell.get("answer_recall@3"), "r5": cell.get("answer_recall@5"),
                "in_evidence": cell["answer_in_evidence"], "evidence_chars": cell["evidence_chars"],
                "memorize_s": cell["memorize_s"], "recall_s": cell["stages"].get("recall"),
                "answer_s": cell["answer_s"], "peak_rss_mb": summary.get("peak_rss_mb"),
                "ceiling": ceiling(folder, rows),
                "vs_baseline": None if method == baseline else duel(rows, method, baseline),
            })
    return entries


def _f(value: Any, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown(entries: list[dict[str, Any]], baseline: str) -> str:
    head = ["run", "method", "n", "F1", "EM", "R@3 %", "R@5 %", "answer in evidence %", "evidence chars",
            "memorize s", "recall s", "answer s", f"R@5 won/lost vs {baseline}", "sign test p",
            f"F1 won/lost vs {baseline}"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for e in entries:
        duel_cells = ["–", "–", "–"] if e["vs_baseline"] is None else [
            "{}/{}".format(*e["vs_baseline"]["r5"]), _f(sign_test_p(*e["vs_baseline"]["r5"]), 2),
            "{}/{}".format(*e["vs_baseline"]["f1"])]
        lines.append("| " + " | ".join([
            e["run"], f"`{e['method']}`", f"{e['n']} ({e['errors']} failed)" if e.get("errors") else str(e["n"]), _f(e["f1"], 2), _f(e["em"], 1), _f(e["r3"]), _f(e["r5"]),
            _f(e["in_evidence"]), _f(e["evidence_chars"], 0), _f(e["memorize_s"]), _f(e["recall_s"]),
            _f(e["answer_s"]), *duel_cells]) + " |")
    ceilings = {e["run"]: e["ceiling"] for e in entries if e.get("ceiling") and e["ceiling"][1]}
    if ceilings:
        lines.append("\nExamples with an answer-bearing chunk (the R@k ceiling): " + ", ".join(
            f"{run} {found} of {total} ({100 * found / total:.1f} %)" for run, (found, total) in ceilings.items()) + ".")
    peaks = sorted({(e["run"], e["peak_rss_mb"]) for e in entries if e["peak_rss_mb"] is not None})
    if peaks:
        lines.append("\nPeak RSS of each eval process: " + ", ".join(f"{run} {mb:.0f} MB" for run, mb in peaks) + ".")
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str, command: str, table: str, kind: str = "heldout") -> None:
    """Replace the text between `<!-- KIND:SECTION:start -->` and `<!-- KIND:SECTION:end -->` in `path` with the
    command and the table (appended when the markers are absent)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    start, end = (marker.format(kind=kind, section=section) for marker in MARKERS)
    body = f"{start}\nTable written on {time.strftime('%Y-%m-%d')} by:\n\n    {command}\n\n{table}{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + body + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    path.write_text(text, encoding="utf-8")


def emit(result: dict[str, Any], table: str, script: str, write: Path | None, section: str,
         argv: list[str] | None, kind: str = "heldout") -> None:
    """Print `result` as JSON on stdout and `table` on stderr; with `write`, put the table and the command line
    that made it (benchmarks/`script` and its arguments) into that file's section."""
    print(json.dumps(result, indent=1))
    print(table, file=sys.stderr)
    if write:
        command = f"python benchmarks/{script} " + shlex.join(sys.argv[1:] if argv is None else argv)
        write_section(write, section, command, table, kind)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="memorag eval output folders")
    parser.add_argument("--baseline", default="rag", help="method each folder's methods are compared with")
    parser.add_argument("--section", default="heldout", help="name of the section --write replaces")
    parser.add_argument("--write", nargs="?", type=Path, const=Path("docs/benchmarks.md"), default=None)
    parser.add_argument("--pool", action="store_true",
                        help="one row per method over the rows of all folders (several sets), instead of per folder")
    parser.add_argument("--grid", action="store_true",
                        help="the pooled rows as a grid: memory settings by recall strategy (R@5, won/lost)")
    args = parser.parse_args(argv)
    if args.grid:
        entries = pool(args.runs, args.baseline)
        table = grid_markdown(grid(entries, args.baseline), args.baseline)
    elif args.pool:
        entries = pool(args.runs, args.baseline)
        table = pooled_markdown(entries, args.baseline)
    else:
        entries = collect(args.runs, args.baseline)
        table = markdown(entries, args.baseline)
    emit({"entries": entries}, table, "heldout_report.py", args.write, args.section, argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
