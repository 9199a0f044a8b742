"""`generate` recall: MemoRAG's free-text clues (span, surrogate questions, draft answer), the baseline.

The memory writes them itself (`Memory.clues`); this strategy only labels them and drops blank ones, so every
memory kind (`none` included) serves it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from memorag.recall.base import RecallConfig, nonblank
from memorag.types import Clue, Document


class GenerateRecall:
    name = "generate"

    def __init__(self, config: RecallConfig | None = None) -> None:
        self.config = config or RecallConfig()

    def recall(
        self, question: str, memory: Any, documents: Sequence[Document], retriever: Any = None
    ) -> list[Clue]:
        clues = memory.clues(question, self.config.clue_kinds)
        return nonblank([replace(clue, strategy="generate") for clue in clues])
