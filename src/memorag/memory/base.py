"""The global memory's interface (MemoRAG section 2.2): memorize a context once, then recall clues from it.

Memory kinds implement this Protocol; the pipeline and store talk to nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from memorag.memory.prompts import parse_clues
from memorag.types import Clue, Document

CLUE_KINDS = ("span", "question", "answer")


class Memory(Protocol):
    kind: str

    @property
    def is_empty(self) -> bool: ...

    def memorize(self, documents: Sequence[Document], progress: bool = False) -> dict[str, float]:
        """Read documents into memory (appending to what is there); returns timings in seconds."""

    @property
    def needs_routing(self) -> bool:
        """True when the memorized documents do not fit the memory model's window together (see `focus`)."""

    def remove(self, documents: Sequence[int]) -> bool:
        """Forget the memorized documents at these indices (in memorize order); False, with nothing forgotten,
        when the memory cannot forget one document alone (a store from before per-document segments)."""

    def focus(self, documents: Sequence[int]) -> tuple[int, ...]:
        """Read the memory of these documents (most relevant first) and as many others as fit the memory model's
        window for the next questions; returns the indices of the documents now read."""

    def recall(self, question: str) -> list[Clue]:
        """Text spans likely to be in the context (MemoRAG "span")."""

    def rewrite(self, question: str) -> list[Clue]:
        """Surrogate, more specific questions (MemoRAG "sur")."""

    def answer(self, question: str) -> str:
        """A draft answer from memory alone (MemoRAG "qa")."""

    def summarize(self, count: int = 5) -> list[Clue]:
        """Key points of the whole memorized context."""

    def clues(self, question: str, kinds: Sequence[str] = CLUE_KINDS) -> list[Clue]:
        """Clues of several kinds for one question, in the order of `kinds` (a KV memory decodes them as one batch)."""

    def save(self, directory: Path) -> dict[str, Any]:
        """Write the memory's files into `directory`; return what the manifest should record."""

    def describe(self) -> dict[str, Any]:
        """Sizes and settings for `memorag info`."""


def check_kinds(kinds: Sequence[str]) -> Sequence[str]:
    unknown = [kind for kind in kinds if kind not in CLUE_KINDS]
    if unknown:
        raise ValueError(f"unknown clue kind {unknown[0]!r}; choose from {CLUE_KINDS}")
    return kinds


def clues_from_texts(question: str, kinds: Sequence[str], texts: Sequence[str]) -> list[Clue]:
    """The clues of each kind's generated text (the task of kind k is k), in the order of `kinds`; the draft
    answer becomes one "answer" clue."""
    found: list[Clue] = []
    for kind, text in zip(check_kinds(kinds), texts, strict=True):
        if kind == "answer":
            found += parse_clues(text, "answer", question, min_chars=1, limit=1)
        else:
            found += parse_clues(text, kind, question)
    return found


def collect_clues(memory: Memory, question: str, kinds: Sequence[str] = CLUE_KINDS) -> list[Clue]:
    """Clues of several kinds, one kind after the other, in the order of `kinds` (for a memory that cannot batch
    its prompts, and the reference of those that do); the draft answer becomes one "answer" clue."""
    found: list[Clue] = []
    for kind in check_kinds(kinds):
        if kind == "span":
            found += memory.recall(question)
        elif kind == "question":
            found += memory.rewrite(question)
        else:
            found += parse_clues(memory.answer(question), "answer", question, min_chars=1, limit=1)
    return found
