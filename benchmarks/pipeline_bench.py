"""Speed and size of the whole pipeline on the embedded models, at ~30k and ~60k tokens.

    .venv/bin/python benchmarks/pipeline_bench.py --tokens 30000 60000 --write docs/benchmarks.md

Each size runs in its own process (so peak RSS is that size's): memorize (split into memory prefill, embedding
+ index, save), store size on disk, load time in a fresh process (model loading included), and `ask` latency
split into recall, retrieve and generate, averaged over the questions. Prints one JSON object.
The text is the Python Language Reference that ships with CPython (`pydoc_data.topics`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from memorag.eval.report import peak_rss_mb

QUESTIONS = ("What does the nonlocal statement do?", "What happens when a pass statement is executed?")
CHARS_PER_TOKEN = 4.15  # SmolLM2 tokens per character of this text, measured: 117,722 chars -> 28,401 tokens


def reference_text(tokens: int) -> str:
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[name] for name in sorted(topics))
    return text[: int(tokens * CHARS_PER_TOKEN)]


def run_memorize(tokens: int, store: Path) -> dict:
    from memorag import MemoRAG

    rag = MemoRAG()
    source = store.parent / f"reference-{tokens}.txt"
    source.write_text(reference_text(tokens), encoding="utf-8")
    started = time.perf_counter()
    timings = rag.memorize([source], store=store, overwrite=True)  # the benchmark's own store, rebuilt
    total = time.perf_counter() - started
    return {"memorize_s": round(total, 2), "split_s": {k: round(v, 2) for k, v in timings.items()},
            "memory": rag.memory.describe(), "chunks": len(rag.retriever.chunks),
            "store_mb": round(sum(f.stat().st_size for f in store.rglob("*") if f.is_file()) / 1e6, 1),
            "peak_rss_mb": round(peak_rss_mb())}


def run_ask(store: Path) -> dict:
    started = time.perf_counter()
    from memorag import MemoRAG

    rag = MemoRAG.load(store)
    load = time.perf_counter() - started
    asks = [rag.ask(q).timings for q in QUESTIONS]
    mean = {k: round(sum(a[k] for a in asks) / len(asks), 2) for k in asks[0]}
    return {"load_s": round(load, 2), "store_load_only_s": round(rag.timings["load"], 2),
            "ask_s": mean, "ask_total_s": round(sum(mean.values()), 2), "peak_rss_mb": round(peak_rss_mb())}


def child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def markdown(results: dict) -> str:
    rows = [("| tokens | memory entries (beta) | memorize s | prefill / embed+index / save s | store MB | "
            "load s (new process) | ask s: recall / retrieve / generate | peak RSS MB memorize / ask |"),
            "|---|---|---|---|---|---|---|---|"]
    for r in results.values():
        m, a, s = r["memorize"], r["ask"], r["memorize"]["split_s"]
        rows.append(
            f"| {m['memory']['tokens_read']} | {m['memory']['entries']} ({m['memory']['beta']}) | {m['memorize_s']} | "
            f"{s['memory_prefill']} / {s['embed_and_index']} / {s['save']} | {m['store_mb']} | {a['load_s']} | "
            f"{a['ask_s']['recall']} / {a['ask_s']['retrieve']} / {a['ask_s']['generate']} | "
            f"{m['peak_rss_mb']} / {a['peak_rss_mb']} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, nargs="+", default=[30000, 60000])
    parser.add_argument("--write", type=Path, help="append the table to this Markdown file")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        step, value = args.child
        result = run_memorize(int(value.split(":")[0]), Path(value.split(":")[1])) if step == "memorize" \
            else run_ask(Path(value))
        print(json.dumps(result))
        return
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for tokens in args.tokens:
            store = Path(tmp) / f"store-{tokens}"
            results[tokens] = {"memorize": child(["--child", "memorize", f"{tokens}:{store}"]),
                               "ask": child(["--child", "ask", str(store)])}
    print(json.dumps(results, indent=1))
    if args.write:
        with args.write.open("a", encoding="utf-8") as handle:
            handle.write("\n" + markdown(results) + "\n")


if __name__ == "__main__":
    main()
