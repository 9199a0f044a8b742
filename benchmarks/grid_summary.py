"""Issue 7's grid at a glance: R@5 pooled over sets, read back from the tables already in docs/benchmarks.md.

    .venv/bin/python benchmarks/grid_summary.py --sets musique,2wikimqa,hotpotqa --section grid-multihop --write

The eval folders behind docs/benchmarks.md are not kept (runs/ is gitignored), but every per-folder table that
benchmarks/heldout_report.py wrote there holds, for each (folder, method), the rows scored, the failed rows, R@5
and R@5 won/lost against rag of that folder. This script reads those rows back, keeps one per (set, method) (the
first table that has it; a folder's set is its name before "-heldout"), pools them over the chosen sets (hits =
R@5 x rows scored, summed; won/lost summed) and prints heldout_report's grid: one line per memory setting, one
column per recall strategy. Not here: R@3 and F1 (the grid shows R@5 only); p comes from the summed won/lost.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from heldout_report import emit, grid, grid_markdown, sign_test_p

# | run | `method` | n (k failed) | F1 | EM | R@3 % | R@5 % | ... | R@5 won/lost | sign test p | F1 won/lost |
ROW = re.compile(
    r"^\| (?P<run>[^|`]+?) \| `(?P<method>[^`]+)` \| (?P<n>\d+)(?: \((?P<failed>\d+) failed\))? \|"
    r"(?:[^|]*\|){3} (?P<r5>[\d.]+) \|(?:[^|]*\|){5} (?P<won_lost>–|\d+/\d+) \|[^|]*\|[^|]*\|$"
)


def folder_rows(markdown: str) -> list[dict[str, Any]]:
    """Every per-folder row of heldout_report's tables in `markdown`: run, set, method, scored rows, hits, won/lost."""
    found = []
    for line in markdown.splitlines():
        match = ROW.match(line.strip())
        if match is None or "-heldout" not in match["run"]:
            continue
        scored = int(match["n"]) - int(match["failed"] or 0)
        won_lost = None if match["won_lost"] == "–" else [int(x) for x in match["won_lost"].split("/")]
        found.append({"run": match["run"], "set": match["run"].split("-heldout")[0], "method": match["method"],
                      "scored": scored, "hits": round(float(match["r5"]) * scored / 100), "won_lost": won_lost})
    return found


def pool_rows(rows: list[dict[str, Any]], sets: list[str], baseline: str) -> list[dict[str, Any]]:
    """heldout_report.pool's entries (method, sets, n, r5, vs_baseline, p) from table rows of the given sets."""
    first: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        if row["set"] in sets:
            first.setdefault((row["set"], row["method"]), row)
    pooled: dict[str, dict[str, Any]] = {}
    for row in first.values():
        entry = pooled.setdefault(row["method"], {"method": row["method"], "sets": 0, "n": 0, "hits": 0, "wl": [0, 0]})
        entry["sets"] += 1
        entry["n"] += row["scored"]
        entry["hits"] += row["hits"]
        if row["won_lost"]:
            entry["wl"] = [entry["wl"][0] + row["won_lost"][0], entry["wl"][1] + row["won_lost"][1]]
    return [{"method": e["method"], "sets": e["sets"], "n": e["n"], "r3": None,
             "r5": 100 * e["hits"] / e["n"] if e["n"] else None,
             "vs_baseline": None if e["method"] == baseline else e["wl"],
             "p": None if e["method"] == baseline else sign_test_p(*e["wl"])} for e in pooled.values()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", type=Path, default=Path("docs/benchmarks.md"), help="where the tables are")
    parser.add_argument("--sets", required=True, help="comma-separated sets (folder names before -heldout)")
    parser.add_argument("--baseline", default="rag")
    parser.add_argument("--section", default="grid", help="name of the section --write replaces")
    parser.add_argument("--write", nargs="?", type=Path, const=Path("docs/benchmarks.md"), default=None)
    args = parser.parse_args(argv)
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    entries = pool_rows(folder_rows(args.tables.read_text(encoding="utf-8")), sets, args.baseline)
    if not entries:
        parser.error(f"no per-folder table row of the sets {sets} in {args.tables}")
    table = grid_markdown(grid(entries, args.baseline), args.baseline, unit="set")
    emit({"entries": entries}, table, "grid_summary.py", args.write, args.section, argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
