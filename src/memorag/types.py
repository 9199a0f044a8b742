"""The values that flow through the pipeline: documents, chunks, clues, evidence and answers (frozen dataclasses)."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Document:
    """One memorized text; `source` is a file path or a name the caller gave.

    `pages` holds the character offsets where each page of a paged source (a PDF) starts, page 1 first;
    empty for texts without pages.
    """

    source: str
    text: str
    pages: tuple[int, ...] = ()

    def page_at(self, offset: int) -> int | None:
        """The 1-based page holding character `offset`, None for a document without pages."""
        if not self.pages:
            return None
        return max(1, bisect_right(self.pages, offset))


@dataclass(frozen=True)
class Chunk:
    """A retrieval unit: `text == documents[doc_id].text[start:end]`."""

    chunk_id: int
    doc_id: int
    source: str
    start: int  # character offset in the document, inclusive
    end: int  # character offset in the document, exclusive
    text: str


@dataclass(frozen=True)
class Clue:
    """One query the memory wrote: `kind` is "span", "question", "answer", "keypoint", "passage" or "bridge".

    `strategy` names the recall strategy that made it (memorag.recall). Grounded clues (copy, attention,
    multihop) point into the memorized text: `documents[doc_id].text[start:end]`; `score` is the strategy's own
    (a log-likelihood or an attention mass), `hop` the hop of a multi-hop clue (1, 2, ...).
    """

    text: str
    kind: str
    strategy: str = "generate"
    doc_id: int | None = None
    start: int | None = None
    end: int | None = None
    score: float | None = None
    hop: int | None = None


@dataclass(frozen=True)
class EvidencePassage:
    """A retrieved chunk with the best score it got, the queries (question or clues) that found it and, when a
    judge re-ranked it (memorag.retrieval.judge), the judge's score (a mean log-probability of the question)."""

    chunk: Chunk
    score: float
    queries: tuple[str, ...] = ()
    judge_score: float | None = None

    def judged(self, score: float) -> EvidencePassage:
        return EvidencePassage(self.chunk, self.score, self.queries, float(score))

    @property
    def source(self) -> str:
        return self.chunk.source

    @property
    def text(self) -> str:
        return self.chunk.text


@dataclass(frozen=True)
class Citation:
    """An evidence passage an answer cites as `[marker]` (memorag.generation.citations), and where its chunk lies:
    the page of its start (None for a source without pages), its first and last line in the document's text
    (1-based) and its character offsets there."""

    marker: int
    source: str
    page: int | None
    first_line: int
    last_line: int
    start: int
    end: int
    chunk_id: int

    def label(self) -> str:
        """`report.pdf p.4` for a paged source, `notes.md:L120-L135` (or `notes.md:L7`, one line) otherwise."""
        name = Path(self.source).name
        if self.page is not None:
            return f"{name} p.{self.page}"
        lines = f"L{self.first_line}" + (f"-L{self.last_line}" if self.last_line != self.first_line else "")
        return f"{name}:{lines}"


@dataclass(frozen=True)
class Answer:
    """What `MemoRAG.ask` returns: the answer, the clues that queried the index, the evidence read and the
    passages the answer cites."""

    question: str
    answer: str
    mode: str
    clues: tuple[Clue, ...] = ()
    evidence: tuple[EvidencePassage, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    judge: str | None = None  # the model that re-ranked the evidence, None when none did
    ranking: tuple[int, ...] = ()  # chunk ids of the judged pool, best first (the evidence is its first top_k)
    pool: tuple[tuple[int, float], ...] = ()  # the judged pool in the retriever's order: (chunk id, judge score)
    citations: tuple[Citation, ...] = ()  # the evidence passages the answer's [n] markers cite, first cited first
    dropped_citations: int = 0  # markers citing passages that were not given, removed from the answer

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
