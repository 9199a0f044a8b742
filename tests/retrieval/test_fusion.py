"""fuse_hits (weighted reciprocal-rank fusion with a fixed budget) and Retriever.search / fusion="rrf"."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from memorag.config import RetrievalConfig
from memorag.retrieval import Retriever
from memorag.retrieval.evidence import fuse_hits
from memorag.types import Chunk, Document

CHUNKS = [Chunk(i, 0, "a", 10 * i, 10 * i + 10, "x" * 10) for i in range(6)]


def test_rrf_keeps_top_k_by_summed_reciprocal_rank_in_source_order() -> None:
    per_query = [("q", [(4, 0.9), (1, 0.8), (2, 0.7)]), ("clue", [(1, 0.9), (5, 0.8), (0, 0.1)])]
    passages = fuse_hits(per_query, CHUNKS, top_k=2, rrf_k=1)
    # chunk 1: 1/(1+2) + 1/(1+1) = 0.833; chunk 4: 1/2; chunk 5: 1/3; chunk 2: 1/4
    assert [p.chunk.chunk_id for p in passages] == [1, 4]
    assert passages[0].score == pytest.approx(1 / 3 + 1 / 2) and passages[0].queries == ("q", "clue")


def test_question_weight_decides_between_question_and_clue_hits() -> None:
    per_query = [("q", [(4, 0.9), (2, 0.8)]), ("clue", [(5, 0.9), (0, 0.8)])]
    plain = fuse_hits(per_query, CHUNKS, top_k=2, rrf_k=1)
    assert {p.chunk.chunk_id for p in plain} == {4, 5}  # tie at rank 1: both first hits
    weighted = fuse_hits(per_query, CHUNKS, top_k=2, weights=[3.0, 1.0], rrf_k=1)
    assert {p.chunk.chunk_id for p in weighted} == {4, 2}  # 3/3 for the question's second beats 1/2
    with pytest.raises(ValueError, match="weights"):
        fuse_hits(per_query, CHUNKS, top_k=2, weights=[1.0])


def test_retriever_search_ranks_per_query_and_rrf_keeps_the_budget(hashing_embedder: Any) -> None:
    config = RetrievalConfig(chunk_tokens=40, chunk_overlap=8, top_k=2, fusion="rrf", question_weight=2.0)
    texts = {"volcano": "The volcano erupted and lava covered the village. ", "violin": "She tuned the violin. "}
    retriever = Retriever(hashing_embedder, config)
    retriever.build([Document(f"{name}.txt", text * 6) for name, text in texts.items()])
    searched = retriever.search(["volcano lava", " ", "violin"], top_k=3)
    assert [query for query, _ in searched] == ["volcano lava", "violin"]
    scores = [score for _, score in searched[0][1]]
    assert scores == sorted(scores, reverse=True) and len(scores) == 3
    evidence = retriever.retrieve(["volcano lava", "violin tuned"])
    assert len(evidence) == 2  # rrf: the top_k budget, not the union of 2 x top_k
    assert any("volcano" in p.text for p in evidence)
    union = Retriever(hashing_embedder, replace(config, fusion="union"))
    union.build([Document(f"{name}.txt", text * 6) for name, text in texts.items()])
    assert len(union.retrieve(["volcano lava", "violin tuned"])) > 2
