"""What the judge costs: seconds per question for candidate pools of 10, 20 and 40 passages, and peak RSS.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/judge_bench.py --pools 10 20 40 --write docs/benchmarks.md

Memorizes a ~30k-token text (the Python Language Reference that ships with CPython, as pipeline_bench.py) into
a store without a memory prefill (kind "none": the judge reads passages, not the memory), then for each pool
size times `ask(..., mode="memorag", recall="none", max_new_tokens=0)` on the same questions: the retrieval of
the pool (hybrid) and the judge's scoring of it with the memory model (SmolLM2-135M), at the default passage
budget and batch size. The `rag` retrieval of the same questions is timed beside it. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from heldout_report import emit
from pipeline_bench import reference_text

from memorag.eval.report import peak_rss_mb

QUESTIONS = (
    "What does the nonlocal statement do?", "What happens when a pass statement is executed?",
    "How are default parameter values evaluated?", "What does the with statement guarantee?",
    "When is the else clause of a for loop executed?",
)


def measure(pools: list[int], tokens: int, threads: int | None) -> dict:
    import torch

    from memorag import JudgeConfig, MemoRAG, MemoryConfig, RetrievalConfig

    if threads:
        torch.set_num_threads(threads)
    rag = MemoRAG(MemoryConfig(kind="none"), RetrievalConfig(retriever="hybrid"))
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "reference.txt"
        source.write_text(reference_text(tokens), encoding="utf-8")
        rag.memorize([source])
    rag.ask(QUESTIONS[0], mode="memorag", recall="none", max_new_tokens=0, judge=JudgeConfig(pool=4))  # warm up
    rows = []
    started = time.perf_counter()
    for question in QUESTIONS:
        rag.ask(question, mode="rag", max_new_tokens=0)
    rag_s = (time.perf_counter() - started) / len(QUESTIONS)
    for pool in pools:
        config = JudgeConfig(pool=pool)
        seconds, judge_s = [], []
        for question in QUESTIONS:
            started = time.perf_counter()
            answer = rag.ask(question, mode="memorag", recall="none", max_new_tokens=0, judge=config)
            seconds.append(time.perf_counter() - started)
            judge_s.append(answer.timings["judge"])
        rows.append({"pool": pool, "seconds_per_question": round(statistics.median(seconds), 2),
                     "judge_seconds": round(statistics.median(judge_s), 2),
                     "passage_tokens": config.passage_tokens, "batch_size": config.batch_size})
    return {"tokens": tokens, "chunks": len(rag.retriever.chunks), "questions": len(QUESTIONS),
            "threads": torch.get_num_threads(), "rag_retrieve_s": round(rag_s, 3), "pools": rows,
            "peak_rss_mb": round(peak_rss_mb())}


def table(result: dict) -> str:
    lines = [
        (f"`ask(..., mode=\"memorag\", recall=\"none\", max_new_tokens=0)` on a {result['tokens']}-token store "
         f"({result['chunks']} chunks), SmolLM2-135M as judge, {result['threads']} threads, median of "
         f"{result['questions']} questions; `rag` retrieval of the same questions: {result['rag_retrieve_s']} s. "
         f"Peak RSS {result['peak_rss_mb']} MB."), "",
        "| pool | seconds per question | of which judge | passage tokens | batch |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in result["pools"]:
        lines.append(f"| {row['pool']} | {row['seconds_per_question']} | {row['judge_seconds']} | "
                     f"{row['passage_tokens']} | {row['batch_size']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", type=int, nargs="+", default=[10, 20, 40])
    parser.add_argument("--tokens", type=int, default=30000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--write", type=Path, default=None, help="docs/benchmarks.md: replace its judge-cost table")
    args = parser.parse_args(argv)
    result = measure(args.pools, args.tokens, args.threads)
    emit(result, table(result), "judge_bench.py", args.write, "judge-cost", argv, kind="bench")


if __name__ == "__main__":
    main()
