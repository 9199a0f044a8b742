"""Citations: the `[n]` markers of an answer, checked against the evidence passages it was given and resolved to
where each passage lies (source, page, lines).

Passages are numbered from 1, as `evidence_prompt` (memorag.pipeline) numbers them for the generator. A marker is
`[2]`, `[1, 3]`, a range `[2-3]`, or several side by side (`[1][2]`). A number outside 1..len(evidence) cites a
passage that was not given: it is removed from the answer (the whole marker, with the space before it, when none of
its numbers is left) and counted. A marker inside double quotes belongs to quoted text (a quote answer copies its
sentence verbatim, reference marks included) and is left alone. Does not handle: other citation forms ((1), ^1,
【1】), or a bracketed number that is not a citation outside quotes (a year `[2020]` is read as one).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from memorag.types import Chunk, Citation, Document, EvidencePassage

# a marker with the space before it (which goes when the marker does): [2], [1, 3], [2-3], [1, 3-4]
MARKER = re.compile(r"\s*\[\s*(\d{1,6}(?:\s*[,\-–]\s*\d{1,6})*)\s*\]")
_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”")
_PART = re.compile(r"(\d+)(?:\s*[\-–]\s*(\d+))?")  # one number or range of a marker's list


@dataclass(frozen=True)
class CitedText:
    """An answer with its markers checked: `text` keeps the markers to given passages, `citations` resolves them
    (each passage once, first cited first), `dropped` counts the numbers that cited passages not given."""

    text: str
    citations: tuple[Citation, ...] = ()
    dropped: int = 0


def uncited(text: str) -> str:
    """`text` without its citation markers (what an answer says, for scoring)."""
    return MARKER.sub("", text).strip()


def marker_numbers(marker: str) -> list[tuple[int, int]]:
    """The (first, last) passage numbers of each part of a marker's list: `"1, 3-4"` -> [(1, 1), (3, 4)]."""
    found = []
    for match in _PART.finditer(marker):
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else first
        found.append((min(first, last), max(first, last)))
    return found


def citation(marker: int, chunk: Chunk, document: Document) -> Citation:
    """Where `chunk` of `document` lies, cited as `[marker]`: the page of its start, its first and last lines."""
    text = document.text
    first_line = text.count("\n", 0, chunk.start) + 1
    last_line = text.count("\n", 0, max(chunk.start, chunk.end - 1)) + 1
    return Citation(marker, chunk.source, document.page_at(chunk.start), first_line, last_line, chunk.start,
                    chunk.end, chunk.chunk_id)


def cite(text: str, evidence: Sequence[EvidencePassage], documents: Sequence[Document]) -> CitedText:
    """`text` with its markers checked against the `evidence` it was given, and the citations they make;
    `documents` holds each passage's document (indexed by the chunk's doc_id)."""
    quoted = [match.span() for match in _QUOTED.finditer(text)]
    cited: list[int] = []
    dropped = 0

    def check(match: re.Match[str]) -> str:
        nonlocal dropped
        if any(start <= match.start(1) < end for start, end in quoted):
            return match.group(0)
        kept: list[int] = []
        missing = 0
        for first, last in marker_numbers(match.group(1)):
            given = range(max(first, 1), min(last, len(evidence)) + 1)
            kept += given
            missing += last - first + 1 - len(given)
        cited.extend(number for number in dict.fromkeys(kept) if number not in cited)
        dropped += missing
        if not missing:
            return match.group(0)  # every number was given: the marker stays as the generator wrote it
        marker = match.group(0)
        space = marker[: len(marker) - len(marker.lstrip())]
        return f"{space}[{', '.join(map(str, kept))}]" if kept else ""

    checked = MARKER.sub(check, text)
    citations = tuple(
        citation(number, evidence[number - 1].chunk, documents[evidence[number - 1].chunk.doc_id])
        for number in cited
    )
    return CitedText(checked.strip() if dropped else checked, citations, dropped)


__all__ = ["MARKER", "CitedText", "citation", "cite", "marker_numbers", "uncited"]
