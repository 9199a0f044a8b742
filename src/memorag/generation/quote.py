"""Quote answers: the evidence sentence a judge finds the question most likely after, quoted with its passage.

A 135M generator handed the right passage still writes wrong answers; a quote cannot say what the evidence does
not. The evidence passages are split into sentences (at . ! ? and their CJK forms, and at line breaks); the
judge (memorag.retrieval.judge) scores each sentence by the mean log-probability of the question after it, and
the best one is the answer, marked with the number of its passage as the generator's prompt numbers them: `"..." [2]`.
Does not handle: abbreviations that end a "sentence" early (a quote is then shorter), or joining two sentences.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from memorag.types import EvidencePassage

_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|\n+")
MIN_WORDS = 3  # shorter fragments (headings, list markers) are not quoted unless nothing else is there
MAX_CHARS = 400  # a longer "sentence" (a table, a run-on list) is cut to this many characters


@dataclass(frozen=True)
class Quote:
    """One sentence of the evidence: `passage` is its 1-based number in the evidence, `start`/`end` its character
    offsets in the document (as the passage's chunk)."""

    text: str
    passage: int
    start: int
    end: int
    score: float


def sentences(evidence: Sequence[EvidencePassage]) -> list[Quote]:
    """Every sentence of the evidence with its passage number and document offsets (score 0)."""
    found: list[Quote] = []
    for number, passage in enumerate(evidence, 1):
        text, position = passage.text, 0
        for piece in _SENTENCE_END.split(text):
            start = text.find(piece, position)
            position = start + len(piece)
            stripped = piece.strip()
            if not stripped:
                continue
            offset = passage.chunk.start + start + (len(piece) - len(piece.lstrip()))
            cut = stripped[:MAX_CHARS]
            found.append(Quote(cut, number, offset, offset + len(cut), 0.0))
    words = [quote for quote in found if len(quote.text.split()) >= MIN_WORDS]
    return words or found


def best_quote(question: str, evidence: Sequence[EvidencePassage], judge: Any) -> Quote | None:
    """The sentence of `evidence` the judge scores highest for `question` (None when the evidence is empty)."""
    candidates = sentences(evidence)
    if not candidates:
        return None
    scores = judge.score(question, [quote.text for quote in candidates])
    best = max(range(len(candidates)), key=lambda i: scores[i])  # the first of equal scores
    chosen = candidates[best]
    return Quote(chosen.text, chosen.passage, chosen.start, chosen.end, float(scores[best]))


def quote_text(quote: Quote | None) -> str:
    return f'"{quote.text}" [{quote.passage}]' if quote is not None else ""


__all__ = ["Quote", "best_quote", "quote_text", "sentences"]
