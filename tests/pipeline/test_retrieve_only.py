"""`ask(max_new_tokens=0)`: clues and evidence as usual, no answer, and the generator never runs."""

from __future__ import annotations

from typing import Any

import pytest

from memorag.pipeline import MemoRAG
from memorag.types import Chunk, Document, EvidencePassage


class Retriever:
    def retrieve(self, queries: list[str], top_k: int, retriever: str | None = None) -> list[EvidencePassage]:
        return [EvidencePassage(Chunk(0, 0, "d", 0, 4, "text"), 1.0, tuple(queries))]


class RefusingGenerator:
    def generate(self, *args: Any, **kwargs: Any) -> str:
        raise AssertionError("a zero budget must not run the generator")


def test_a_zero_budget_retrieves_without_generating():
    rag = MemoRAG()
    rag.documents, rag._retriever, rag._generator = [Document("d", "text")], Retriever(), RefusingGenerator()
    answer = rag.ask("Who?", mode="rag", max_new_tokens=0)
    assert answer.answer == "" and len(answer.evidence) == 1 and "generate" not in answer.timings
    with pytest.raises(ValueError, match="max_new_tokens"):
        rag.ask("Who?", mode="rag", max_new_tokens=-1)
