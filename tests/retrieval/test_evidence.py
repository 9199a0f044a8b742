"""merge_hits: per-query top_k, one passage per chunk with its best score and queries, source order."""

from __future__ import annotations

import pytest

from memorag.retrieval.evidence import merge_hits
from memorag.types import Chunk

# chunk ids in position order, but source order is doc 0 (ids 2, 0), then doc 1 (ids 3, 1)
CHUNKS = [
    Chunk(0, 0, "a", 50, 60, "x" * 10),
    Chunk(1, 1, "b", 30, 40, "y" * 10),
    Chunk(2, 0, "a", 0, 10, "z" * 10),
    Chunk(3, 1, "b", 0, 10, "w" * 10),
]


def test_union_is_in_source_order() -> None:
    passages = merge_hits([("q", [(1, 0.9), (0, 0.8), (3, 0.7), (2, 0.6)])], CHUNKS, top_k=4)
    assert [p.chunk.chunk_id for p in passages] == [2, 0, 3, 1]


def test_dedupe_keeps_best_score_and_every_query() -> None:
    per_query = [("q1", [(0, 0.5), (1, 0.4)]), ("q2", [(0, 0.9), (2, 0.1)]), ("q1", [(0, 0.7)])]
    passages = {p.chunk.chunk_id: p for p in merge_hits(per_query, CHUNKS, top_k=2)}
    assert set(passages) == {0, 1, 2}
    assert passages[0].score == pytest.approx(0.9) and passages[0].queries == ("q1", "q2")
    assert passages[1].queries == ("q1",) and passages[2].queries == ("q2",)


def test_each_query_contributes_only_its_top_k() -> None:
    per_query = [("q1", [(3, 0.1), (0, 0.9), (1, 0.8)]), ("q2", [(2, 0.2), (3, 0.3)])]
    assert {p.chunk.chunk_id for p in merge_hits(per_query, CHUNKS, top_k=1)} == {0, 3}


def test_padding_ids_skipped_and_unknown_ids_refused() -> None:
    assert merge_hits([("q", [(-1, 0.0)])], CHUNKS, top_k=3) == []
    assert merge_hits([], CHUNKS, top_k=3) == []
    with pytest.raises(ValueError, match="chunk id 9"):
        merge_hits([("q", [(9, 0.5)])], CHUNKS, top_k=3)
    with pytest.raises(ValueError):
        merge_hits([("q", [(0, 0.5)])], CHUNKS, top_k=0)
