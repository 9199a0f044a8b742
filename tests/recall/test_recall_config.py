"""The pipeline's RecallConfig picks the default strategy of ask/recall and passes its settings on."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

import memorag.recall
from memorag.pipeline import MemoRAG
from memorag.recall import RecallConfig
from memorag.types import Clue, Document


def test_an_unknown_strategy_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="generate"):
        RecallConfig(strategy="telepathy")


def test_the_configured_strategy_and_settings_reach_the_strategy(monkeypatch: pytest.MonkeyPatch):
    calls: list[tuple[Any, ...]] = []

    def fake_recall(strategy: str, question: str, memory: Any, documents: Any, retriever: Any, config: Any) -> list:
        calls.append((strategy, question, config))
        return [Clue("a span", "span", strategy)]

    monkeypatch.setattr(memorag.recall, "recall_clues", fake_recall)
    config = RecallConfig(strategy="copy", spans=2)
    rag = MemoRAG(recall=config)
    rag.documents, rag._memory, rag._retriever = [Document("d", "text")], SimpleNamespace(needs_routing=False), object()
    assert [c.strategy for c in rag.recall("Who?")] == ["copy"]
    assert rag.recall("Who?", "attention")[0].strategy == "attention"  # an explicit strategy wins
    assert [(s, q, c.spans) for s, q, c in calls] == [("copy", "Who?", 2), ("attention", "Who?", 2)]


def test_generate_clues_use_the_configured_kinds_unless_told_otherwise():
    class Memory:
        needs_routing = False  # everything fits: recall reads the whole memory

        def __init__(self) -> None:
            self.asked: list[tuple[str, ...]] = []

        def clues(self, question: str, kinds: Any) -> list[Clue]:
            self.asked.append(tuple(kinds))
            return [Clue("a clue", kinds[0])]

    rag = MemoRAG(recall=RecallConfig(strategy="generate", clue_kinds=("question",)))
    rag.documents, rag._memory = [Document("d", "text")], Memory()
    rag.recall("Who?")
    rag.recall("Who?", clue_kinds=("span", "answer"))
    assert rag._memory.asked == [("question",), ("span", "answer")]
