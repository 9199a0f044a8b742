"""Asks, recalls and summaries on the wire; AskResponse is memorag.types.Answer with passage numbers and pages."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from memorag.config import ANSWER_STYLES, RETRIEVERS
from memorag.pipeline import MODES
from memorag.recall.base import STRATEGIES
from memorag.types import Answer

MAX_NEW_TOKENS = 1024
MAX_QUESTION = 4000  # characters
Mode = Literal[MODES]  # type: ignore[valid-type]
Strategy = Literal[STRATEGIES]  # type: ignore[valid-type]


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, max_length=MAX_QUESTION)
    mode: Mode = "memorag"
    recall: Strategy | None = None  # None: the store pipeline's default strategy (none)
    top_k: int | None = Field(None, ge=1, le=20)
    retriever: Literal[RETRIEVERS] | None = None  # type: ignore[valid-type]
    answer: Literal[ANSWER_STYLES] | None = None  # type: ignore[valid-type]
    max_new_tokens: int | None = Field(None, ge=0, le=MAX_NEW_TOKENS)  # 0: evidence only
    stream: bool = False  # Server-Sent Events: evidence, token..., done


class RecallRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, max_length=MAX_QUESTION)
    recall: Strategy = "generate"
    kinds: list[Literal["span", "question", "answer"]] | None = None  # generate's clue kinds (None: all three)


class SummarizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    points: int = Field(5, ge=1, le=20)
    top_k: int | None = Field(None, ge=1, le=20)
    max_new_tokens: int = Field(256, ge=1, le=MAX_NEW_TOKENS)


class ClueOut(BaseModel):
    text: str
    kind: str
    strategy: str
    doc_id: int | None = None
    start: int | None = None
    end: int | None = None
    score: float | None = None
    hop: int | None = None


class EvidenceOut(BaseModel):
    number: int  # the [n] the generator saw this passage as, and cites it by
    source: str
    page: int | None  # where the passage starts, for paged sources (PDF)
    start: int  # character offsets in the document's text
    end: int
    doc_id: int
    chunk_id: int
    text: str
    score: float
    judge_score: float | None = None
    queries: list[str] = []


class CitationOut(BaseModel):
    marker: int
    source: str
    label: str  # "report.pdf p.4" or "notes.md:L120-L135"
    page: int | None
    first_line: int
    last_line: int
    start: int
    end: int
    chunk_id: int


class AskResponse(BaseModel):
    question: str
    answer: str
    mode: str
    citations: list[CitationOut]
    dropped_citations: int
    clues: list[ClueOut]
    evidence: list[EvidenceOut]
    judge: str | None
    ranking: list[int]
    timings: dict[str, float]


class RecallResponse(BaseModel):
    question: str
    recall: str
    clues: list[ClueOut]


def evidence_out(evidence: Any, documents: Any) -> list[dict[str, Any]]:
    """Evidence passages numbered as the generator saw them, with the page each starts on."""
    rows = []
    for number, passage in enumerate(evidence, 1):
        chunk = passage.chunk
        page = documents[chunk.doc_id].page_at(chunk.start) if chunk.doc_id < len(documents) else None
        rows.append({"number": number, "source": chunk.source, "page": page, "start": chunk.start,
                     "end": chunk.end, "doc_id": chunk.doc_id, "chunk_id": chunk.chunk_id, "text": chunk.text,
                     "score": float(passage.score), "judge_score": passage.judge_score,
                     "queries": list(passage.queries)})
    return rows


def answer_out(answer: Answer, documents: Any) -> dict[str, Any]:
    """AskResponse's fields from an Answer (Answer.to_dict, plus numbers, pages and citation labels)."""
    data = answer.to_dict()
    citations = [{**row, "label": citation.label()} for row, citation in zip(data["citations"], answer.citations,
                                                                             strict=True)]
    return {"question": answer.question, "answer": answer.answer, "mode": answer.mode, "citations": citations,
            "dropped_citations": answer.dropped_citations, "clues": data["clues"],
            "evidence": evidence_out(answer.evidence, documents), "judge": answer.judge,
            "ranking": list(answer.ranking), "timings": answer.timings}
