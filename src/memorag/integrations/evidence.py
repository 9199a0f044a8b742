"""What both framework retrievers share: the pipeline they read (a loaded store, or one given), the evidence of
one question, and each passage's metadata. No framework is imported here.

Does not handle: generation (the retrievers never call the generator: max_new_tokens=0), streaming, async.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memorag.types import EvidencePassage

RETRIEVAL_MODES = ("rag", "memorag")  # the modes that retrieve; memory and full answer without passages


def open_pipeline(store: str | Path | None, pipeline: Any | None) -> Any:
    """The pipeline to read: `pipeline` as given, else `MemoRAG.load(store)`; exactly one of the two."""
    if (store is None) == (pipeline is None):
        raise ValueError("give either store=PATH (a memorag store) or pipeline=MemoRAG(...), not both or neither")
    if pipeline is not None:
        return pipeline
    from memorag.pipeline import MemoRAG

    return MemoRAG.load(store)


def check_mode(mode: str, top_k: int) -> None:
    if mode not in RETRIEVAL_MODES:
        raise ValueError(f"mode must be one of {RETRIEVAL_MODES} (the modes that retrieve passages), not {mode!r}")
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, not {top_k}")


def evidence(pipeline: Any, question: str, mode: str, top_k: int) -> tuple[EvidencePassage, ...]:
    """The passages `ask` hands its generator for `question`, in the same order; no answer is written."""
    return tuple(pipeline.ask(question, mode=mode, top_k=top_k, max_new_tokens=0).evidence)


def passage_score(passage: EvidencePassage) -> float:
    """The score the passage was ranked by: the judge's where one judged it (memorag mode), else retrieval's."""
    return float(passage.score if passage.judge_score is None else passage.judge_score)


def passage_metadata(pipeline: Any, passage: EvidencePassage) -> dict[str, Any]:
    """source, start, end (character offsets in the source), page (PDF, else None), chunk_id, doc_id, score."""
    chunk = passage.chunk
    documents = pipeline.documents
    page = documents[chunk.doc_id].page_at(chunk.start) if chunk.doc_id < len(documents) else None
    return {"source": chunk.source, "start": chunk.start, "end": chunk.end, "page": page,
            "chunk_id": chunk.chunk_id, "doc_id": chunk.doc_id, "score": passage_score(passage)}
