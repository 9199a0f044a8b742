"""Quote answers: the evidence sentence a judge finds the question most likely after, quoted with its passage.

A 135M generator handed the right passage still writes wrong answers; a quote cannot say what the evidence does
not. The evidence passages are split into sentences (at . ! ? and their CJK forms, at blank lines, and at line
breaks not followed by a lower-case continuation); the
judge (memorag.retrieval.judge) scores each sentence by the mean log-probability of the question after it, and
the best one is the answer, marked with the number of its passage as the generator's prompt numbers them: `"..." [2]`,
a citation that memorag.generation.citations checks and resolves as it does a generator's.
Given the documents, a sentence that a passage edge cut is completed from its document (whole_sentence).
Does not handle: abbreviations that end a "sentence" early (a quote is then shorter), or joining two sentences.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from memorag.types import EvidencePassage

# after . ! ? (and CJK forms); at a blank line; at a line break unless the next line goes on in lower case (a
# hard-wrapped sentence, as in most plain-text documents)
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|\n\s*\n\s*|\n(?![ \t]*[a-z])")
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


def whole_sentence(quote: Quote, document: str) -> Quote:
    """`quote` grown to the whole sentence of `document` it belongs to, where a passage edge cut it (at most
    MAX_CHARS in all); unchanged when the offsets do not match the document or no boundary is near."""
    if document[quote.start : quote.end] != quote.text:
        return quote
    before = document[max(0, quote.start - MAX_CHARS) : quote.start]
    boundaries = [match.end() for match in _SENTENCE_END.finditer(before)]
    start = quote.start - len(before) + boundaries[-1] if boundaries else (0 if quote.start == len(before) else quote.start)
    after = _SENTENCE_END.search(document, quote.end, min(len(document), quote.end + MAX_CHARS))
    end = after.start() if after else (len(document) if len(document) - quote.end <= MAX_CHARS else quote.end)
    if end - start > MAX_CHARS:
        return quote
    text = document[start:end].strip()
    start += len(document[start:end]) - len(document[start:end].lstrip())
    return Quote(text, quote.passage, start, start + len(text), quote.score)


def best_quote(question: str, evidence: Sequence[EvidencePassage], judge: Any,
               documents: Sequence[str] | None = None) -> Quote | None:
    """The sentence of `evidence` the judge scores highest for `question` (None when the evidence is empty); with
    the `documents` texts (indexed by the chunks' doc_id), completed where its passage cut it."""
    candidates = sentences(evidence)
    if not candidates:
        return None
    scores = judge.score(question, [quote.text for quote in candidates])
    best = max(range(len(candidates)), key=lambda i: scores[i])  # the first of equal scores
    chosen = candidates[best]
    quote = Quote(chosen.text, chosen.passage, chosen.start, chosen.end, float(scores[best]))
    doc_id = evidence[quote.passage - 1].chunk.doc_id
    if documents is not None and 0 <= doc_id < len(documents):
        quote = whole_sentence(quote, documents[doc_id])
    return quote


def quote_text(quote: Quote | None) -> str:
    """The answer line: the quote with its whitespace collapsed (wrapped lines joined) and its passage number."""
    return f'"{" ".join(quote.text.split())}" [{quote.passage}]' if quote is not None else ""


__all__ = ["Quote", "best_quote", "quote_text", "sentences", "whole_sentence"]
