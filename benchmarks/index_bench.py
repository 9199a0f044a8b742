"""Approximate vector search at scale: recall@10 against exact search, build, search, save/load and delete times.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/index_bench.py --vectors 100000 --kinds exact ivf hnsw

The corpus is synthetic and seeded (`clustered_corpus`): unit vectors in 384-d (MiniLM's width) drawn around
1,000 cluster centres in 50 topics (topic -> centre -> point, Gaussian offsets), queries drawn fresh from the
same clusters (none is a stored vector). Exact search (FAISS IndexFlatIP) is the reference. Each kind is built
through memorag's VectorIndex as the retriever builds it (its search depth calibrated on the stored vectors),
then measured: recall@10 of the held-out queries, search time per query (one batch, and one query at a time),
a save/load round trip (identical results), and a delete of 10% of the vectors (VectorIndex.select: the
approximate index rebuilt from the kept vectors). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

DIMENSION = 384


def clustered_corpus(
    n: int, queries: int, dimension: int = DIMENSION, seed: int = 0, topics: int = 50, centres_per_topic: int = 20,
    centre_spread: float = 1.0, point_spread: float = 2.0,
) -> tuple[np.ndarray, np.ndarray]:
    """(vectors (n, dimension), queries (queries, dimension)), float32 unit rows: a point is its centre plus
    Gaussian noise of norm ~point_spread, a centre its topic plus noise of norm ~centre_spread."""
    rng = np.random.default_rng(seed)

    def unit(rows: np.ndarray) -> np.ndarray:
        return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)

    topic = unit(rng.normal(size=(topics, dimension)))
    noise = rng.normal(size=(topics * centres_per_topic, dimension)) / np.sqrt(dimension)
    centres = unit(np.repeat(topic, centres_per_topic, axis=0) + centre_spread * noise)

    def points(count: int) -> np.ndarray:
        around = centres[rng.integers(0, len(centres), count)]
        return unit(around + point_spread * rng.normal(size=(count, dimension)).astype(np.float32) / np.sqrt(dimension))

    return points(n), points(queries)


def recall_at(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of each query's exact top-k found in its approximate top-k."""
    return float(np.mean([len(set(a.tolist()) & set(b.tolist())) / len(b) for a, b in zip(found, exact)]))


def measure(kind: str, vectors: np.ndarray, queries: np.ndarray, exact: np.ndarray, k: int) -> dict[str, Any]:
    from memorag.retrieval.index import VectorIndex

    started = time.perf_counter()
    index = VectorIndex(vectors.shape[1], kind, approximate_after=1)
    index.add(vectors)
    row: dict[str, Any] = {"kind": kind, "store": index.store, "build_s": round(time.perf_counter() - started, 2)}
    started = time.perf_counter()
    scores, ids = index.search(queries, k)
    row["search_ms_per_query_batched"] = round(1000 * (time.perf_counter() - started) / len(queries), 4)
    started = time.perf_counter()
    for query in queries[:200]:
        index.search(query[None, :], k)
    row["search_ms_one_query"] = round(1000 * (time.perf_counter() - started) / min(200, len(queries)), 4)
    row["recall_at_10"] = round(recall_at(ids, exact), 4)
    row["params"] = index.params()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "index.faiss"
        started = time.perf_counter()
        index.save(path)
        row["save_s"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        loaded = VectorIndex.load(path, vectors.shape[1], kind, approximate_after=1)
        row["load_s"] = round(time.perf_counter() - started, 2)
        again = loaded.search(queries, k)
        row["round_trip_identical"] = bool(np.array_equal(again[1], ids) and np.array_equal(again[0], scores))
    kept = np.flatnonzero(np.arange(len(vectors)) % 10 != 0)  # delete every tenth vector
    started = time.perf_counter()
    index.select(kept)
    row["delete_10pct_s"] = round(time.perf_counter() - started, 2)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--kinds", nargs="+", default=["exact", "ivf", "hnsw"])
    args = parser.parse_args()
    import faiss

    vectors, queries = clustered_corpus(args.vectors, args.queries)
    _, exact = faiss.knn(queries, vectors, 10, metric=faiss.METRIC_INNER_PRODUCT)
    rows = [measure(kind, vectors, queries, exact, 10) for kind in args.kinds]
    json.dump({"vectors": args.vectors, "dimension": DIMENSION, "queries": args.queries, "threads":
               faiss.omp_get_max_threads(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "kinds": rows},
              sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
