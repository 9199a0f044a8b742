"""Merge the hits of several queries (the question and the memory's clues) into one evidence list.

MemoRAG retrieves with every clue the memory writes and reads the union of what they found; a chunk
hit by several clues appears once, with its best score and every query that found it. Evidence is
ordered as it appears in the source, so the generator reads it in the document's own order.
Does not handle: re-ranking, score fusion across queries (e.g. reciprocal rank fusion), or joining
overlapping neighbour chunks into one passage.
"""

from __future__ import annotations

from collections.abc import Sequence

from memorag.types import Chunk, EvidencePassage

Hits = Sequence[tuple[int, float]]  # (chunk_id, score) pairs from one query


def _chunk(chunks: Sequence[Chunk], chunk_id: int) -> Chunk:
    if not 0 <= chunk_id < len(chunks) or chunks[chunk_id].chunk_id != chunk_id:
        raise ValueError(f"chunk id {chunk_id} is not the chunk at that position of {len(chunks)} chunks")
    return chunks[chunk_id]


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
    return sorted(
        passages, key=lambda passage: (passage.chunk.doc_id, passage.chunk.start, passage.chunk.chunk_id)
    )
