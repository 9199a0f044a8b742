"""Merge the hits of several queries (the question and the memory's clues) into one evidence list.

MemoRAG retrieves with every clue the memory writes and reads the union of what they found; a chunk
hit by several clues appears once, with its best score and every query that found it. Evidence is
ordered as it appears in the source, so the generator reads it in the document's own order.
`fuse_hits` instead keeps a fixed budget of top_k chunks ranked by weighted reciprocal-rank fusion (Cormack et
al. 2009), so evidence from question + clues is as long as the question's alone. `fuse_rankings` fuses one
query's rankings from several indexes (dense and BM25, the "hybrid" retriever) the same way.
Does not handle: re-ranking with a cross-encoder, or joining overlapping neighbour chunks into one passage.
"""

from __future__ import annotations

from collections.abc import Sequence

from memorag.types import Chunk, EvidencePassage

Hits = Sequence[tuple[int, float]]  # (chunk_id, score) pairs from one query


def _chunk(chunks: Sequence[Chunk], chunk_id: int) -> Chunk:
    if not 0 <= chunk_id < len(chunks) or chunks[chunk_id].chunk_id != chunk_id:
        raise ValueError(f"chunk id {chunk_id} is not the chunk at that position of {len(chunks)} chunks")
    return chunks[chunk_id]


def in_source_order(passages: Sequence[EvidencePassage]) -> list[EvidencePassage]:
    """Passages ordered as they appear in the sources: by document, then start offset (then chunk id)."""
    return sorted(passages, key=lambda passage: (passage.chunk.doc_id, passage.chunk.start, passage.chunk.chunk_id))


def merge_hits(
    per_query: Sequence[tuple[str, Hits]], chunks: Sequence[Chunk], top_k: int
) -> list[EvidencePassage]:
    """Union of each query's top_k hits, one passage per chunk, ordered by (doc_id, start).

    `chunks[i]` must be the chunk with id i. Negative ids (FAISS pads missing results with -1) are skipped.
    """
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, not {top_k}")
    best: dict[int, float] = {}
    queries: dict[int, list[str]] = {}
    for query, hits in per_query:
        ranked = sorted(
            ((int(cid), float(score)) for cid, score in hits if cid >= 0), key=lambda hit: -hit[1]
        )
        for chunk_id, score in ranked[:top_k]:
            best[chunk_id] = max(score, best.get(chunk_id, score))
            hit_by = queries.setdefault(chunk_id, [])
            if query not in hit_by:
                hit_by.append(query)
    passages = [EvidencePassage(_chunk(chunks, cid), best[cid], tuple(queries[cid])) for cid in best]
    return in_source_order(passages)


def fuse_hits(
    per_query: Sequence[tuple[str, Hits]], chunks: Sequence[Chunk], top_k: int,
    weights: Sequence[float] | None = None, rrf_k: int = 60,
) -> list[EvidencePassage]:
    """The top_k chunks by weighted reciprocal-rank fusion, sum over queries of weight / (rrf_k + rank).

    Ties go to the chunk the earlier query ranked first. The passage score is the fused score.
    """
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, not {top_k}")
    weights = [1.0] * len(per_query) if weights is None else list(weights)
    if len(weights) != len(per_query):
        raise ValueError(f"{len(weights)} weights for {len(per_query)} queries")
    fused: dict[int, float] = {}
    queries: dict[int, list[str]] = {}
    for (query, hits), weight in zip(per_query, weights):
        ranked = sorted(((int(cid), float(s)) for cid, s in hits if cid >= 0), key=lambda hit: -hit[1])
        for rank, (chunk_id, _) in enumerate(ranked, start=1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (rrf_k + rank)
            queries.setdefault(chunk_id, []).append(query)
    best = sorted(fused, key=lambda cid: -fused[cid])[:top_k]  # stable: first-seen order breaks ties
    passages = [EvidencePassage(_chunk(chunks, cid), fused[cid], tuple(queries[cid])) for cid in best]
    return in_source_order(passages)


def fuse_rankings(
    rankings: Sequence[Hits], weights: Sequence[float], top_k: int, rrf_k: int = 60
) -> list[tuple[int, float]]:
    """One query's rankings (each best first) fused by weighted RRF: top_k (chunk_id, fused score), best first.

    Ties go to the chunk the earlier ranking placed first.
    """
    if len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings")
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, (chunk_id, _) in enumerate(ranking, start=1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (rrf_k + rank)
    best = sorted(fused, key=lambda cid: -fused[cid])[:top_k]  # stable: first-seen order breaks ties
    return [(cid, fused[cid]) for cid in best]
