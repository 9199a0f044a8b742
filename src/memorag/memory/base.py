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

    def recall(self, question: str) -> list[Clue]:
        """Text spans likely to be in the context (MemoRAG "span")."""

    def rewrite(self, question: str) -> list[Clue]:
        """Surrogate, more specific questions (MemoRAG "sur")."""

    def answer(self, question: str) -> str:
        """A draft answer from memory alone (MemoRAG "qa")."""

    def summarize(self, count: int = 5) -> list[Clue]:
        """Key points of the whole memorized context."""

    def clues(self, question: str, kinds: Sequence[str] = CLUE_KINDS) -> list[Clue]:
        """Clues of several kinds for one question, in the order of `kinds`."""

    def save(self, directory: Path) -> dict[str, Any]:
        """Write the memory's files into `directory`; return what the manifest should record."""

    def describe(self) -> dict[str, Any]:
        """Sizes and settings for `memorag info`."""


def collect_clues(memory: Memory, question: str, kinds: Sequence[str] = CLUE_KINDS) -> list[Clue]:
    """Clues of several kinds in the order of `kinds`; the draft answer becomes one "answer" clue."""
    found: list[Clue] = []
    for kind in kinds:
        if kind == "span":
            found += memory.recall(question)
        elif kind == "question":
            found += memory.rewrite(question)
        elif kind == "answer":
            found += parse_clues(memory.answer(question), "answer", question, min_chars=1, limit=1)
        else:
            raise ValueError(f"unknown clue kind {kind!r}; choose from {CLUE_KINDS}")
    return found
