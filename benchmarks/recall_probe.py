"""Probe of the recall strategies: do their clues find answer-bearing chunks the question alone misses?

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/recall_probe.py --limit 10
    .venv/bin/python benchmarks/recall_probe.py --data ../shared/data/cacheblend/musique.jsonl --limit 3 \\
        --strategies copy,attention,multihop --kind kv --beta 8

For the first `--limit` rows whose gold answer occurs in the context, the context is memorized (memory model and
MiniLM index, as `MemoRAG.memorize`), then per strategy (memorag.recall) the clues are recalled and every query
searches the index. A hit at k: one of the top k chunks holds a gold answer (case-insensitive; MuSiQue's
distractors repeat answers, so controls matter). Rankings:
  question       the question's own top k (standard RAG)
  random         a seeded random order of the chunks; recency: the last chunks first (controls)
  S+q            top k of reciprocal-rank fusion of the question and strategy S's clues (question weight --weight)
  S              top k of the fusion of S's clues alone
Prints one JSON object: recall@k per ranking, mean recall seconds per strategy, the clues of every row.
A probe, not the issue's benchmark: no held-out split, a few rows; read it beside the controls.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

KS = (3, 5)


def read_rows(path: Path, limit: int, max_chars: int | None) -> list[dict[str, Any]]:
    from memorag.eval.metrics import answer_in_text

    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        context = row["context"][:max_chars] if max_chars else row["context"]
        if answer_in_text(row["answers"], context):
            rows.append({"question": row["input"], "context": context, "answers": row["answers"]})
        if len(rows) == limit:
            break
    return rows


def fused(retriever: Any, queries: list[str], weights: list[float], depth: int) -> list[int]:
    """Chunk ids by weighted reciprocal-rank fusion of the queries' hits (rank constant 60), best first."""
    scores: dict[int, float] = {}
    for (_, hits), weight in zip(retriever.search(queries, depth), weights):
        for rank, (chunk_id, _) in enumerate(hits, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / (60 + rank)
    return sorted(scores, key=lambda cid: -scores[cid])


def hits_at(ranking: list[int], gold: set[int]) -> dict[str, int]:
    return {f"R@{k}": int(bool(set(ranking[:k]) & gold)) for k in KS}


def probe_row(row: dict[str, Any], args: argparse.Namespace, strategies: list[str]) -> dict[str, Any]:
    from memorag import MemoRAG, MemoryConfig, RetrievalConfig
    from memorag.eval.metrics import answer_in_text
    from memorag.recall import RecallConfig, make_strategy

    memory = MemoryConfig(model=args.model, kind=args.kind, beta=args.beta, window=args.window)
    rag = MemoRAG(memory, RetrievalConfig())
    started = time.perf_counter()
    rag.memorize(row["context"])
    result: dict[str, Any] = {
        "memorize_s": round(time.perf_counter() - started, 2),
        "hits": {},
        "clues": {},
        "recall_s": {},
    }
    chunks = rag.retriever.chunks
    gold = {c.chunk_id for c in chunks if answer_in_text(row["answers"], c.text)}
    depth = len(chunks)
    order = list(range(len(chunks)))
    random.Random(args.seed).shuffle(order)
    result["hits"]["question"] = hits_at(fused(rag.retriever, [row["question"]], [1.0], depth), gold)
    result["hits"]["random"] = hits_at(order, gold)
    result["hits"]["recency"] = hits_at(list(reversed(range(len(chunks)))), gold)
    config = RecallConfig(top_chunks=max(KS))
    for name in strategies:
        started = time.perf_counter()
        clues = make_strategy(name, config).recall(row["question"], rag.memory, rag.documents, rag.retriever)
        result["recall_s"][name] = round(time.perf_counter() - started, 2)
        texts = [clue.text for clue in clues]
        result["clues"][name] = [{"text": c.text[:160], "hop": c.hop, "start": c.start} for c in clues]
        both = fused(rag.retriever, [row["question"], *texts], [args.weight] + [1.0] * len(texts), depth)
        result["hits"][f"{name}+q"] = hits_at(both, gold)
        result["hits"][name] = hits_at(
            fused(rag.retriever, texts, [1.0] * len(texts), depth) if texts else [], gold
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data/cacheblend/musique.jsonl"))
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument(
        "--max-chars", type=int, default=None, help="cut every context to this many characters"
    )
    parser.add_argument("--strategies", default="generate,copy,attention,multihop")
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--kind", default="full", help="memory kind: full, or kv with --beta")
    parser.add_argument("--beta", type=int, default=None)
    parser.add_argument(
        "--window", type=int, default=1024, help="prefill window (smaller leaves room for full)"
    )
    parser.add_argument("--weight", type=float, default=1.0, help="the question's weight in the fusion")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    strategies = [s for s in args.strategies.split(",") if s]
    rows = read_rows(args.data, args.limit, args.max_chars)
    per_row = []
    for index, row in enumerate(rows):
        per_row.append(probe_row(row, args, strategies))
        print(f"row {index + 1}/{len(rows)} done", file=sys.stderr)
    names = list(per_row[0]["hits"]) if per_row else []
    summary = {
        name: {f"R@{k}": round(sum(r["hits"][name][f"R@{k}"] for r in per_row) / len(per_row), 3) for k in KS}
        for name in names
    }
    seconds = {
        name: round(sum(r["recall_s"][name] for r in per_row) / len(per_row), 2) for name in strategies
    }
    print(
        json.dumps(
            {
                "data": str(args.data),
                "rows": len(per_row),
                "settings": vars(args) | {"data": str(args.data)},
                "recall": summary,
                "recall_seconds": seconds,
                "per_row": per_row,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
