"""The `none` memory: no memory at all; the generator writes clues from the question alone (HyDE-like baseline).

HyDE (Gao et al. 2022) retrieves with a hypothetical answer written without the context; this kind extends that to
every MemoRAG clue task, so a benchmark can tell what the memory adds over the generator's own knowledge.
Saves nothing but its settings. `summarize` has nothing to summarize and returns no key points.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from memorag.config import MemoryConfig
from memorag.errors import NotMemorizedError
from memorag.memory.base import CLUE_KINDS, collect_clues
from memorag.memory.prompts import parse_clues
from memorag.types import Clue, Document

NO_CONTEXT_SYSTEM = "You have not seen the document the question is about. Write your best guess."
NO_CONTEXT_TASKS = {
    "span": (
        "Question: {question}\n\nWrite up to three short sentences that a document answering this question "
        "would contain, one per line and nothing else."
    ),
    "question": (
        "Question: {question}\n\nWrite up to three more specific questions that would help answer it, one per "
        "line, naming the people, places, terms or numbers they are about."
    ),
    "answer": "Question: {question}\n\nGive a short answer only.",
}


class NoMemory:
    """Clues from `generator` (a memorag.generation Generator) without any context."""

    kind = "none"

    def __init__(self, config: MemoryConfig, generator: Any) -> None:
        self.config, self.generator = config, generator
        self.documents = 0

    @property
    def is_empty(self) -> bool:
        return self.documents == 0

    def memorize(self, documents: Sequence[Document], progress: bool = False) -> dict[str, float]:
        self.documents += len(documents)
        return {"memory_prefill": 0.0}

    def _write(self, task: str, question: str) -> str:
        if self.is_empty:
            raise NotMemorizedError("nothing is memorized: call memorize() first, or load a store")
        messages = [{"role": "system", "content": NO_CONTEXT_SYSTEM},
                    {"role": "user", "content": NO_CONTEXT_TASKS[task].format(question=question)}]
        return str(self.generator.generate(messages, max_new_tokens=self.config.max_clue_tokens))

    def recall(self, question: str) -> list[Clue]:
        return parse_clues(self._write("span", question), "span", question)

    def rewrite(self, question: str) -> list[Clue]:
        return parse_clues(self._write("question", question), "question", question)

    def answer(self, question: str) -> str:
        return self._write("answer", question)

    def summarize(self, count: int = 5) -> list[Clue]:
        return []

    def clues(self, question: str, kinds: Sequence[str] = CLUE_KINDS) -> list[Clue]:
        return collect_clues(self, question, kinds)

    needs_routing = False  # nothing memorized to fit anywhere

    def remove(self, documents: Sequence[int]) -> bool:
        self.documents -= len(set(documents))  # nothing is kept per document
        return True

    def focus(self, documents: Sequence[int]) -> tuple[int, ...]:
        return tuple(range(self.documents))

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": getattr(self.generator, "model_id", None), "documents": self.documents,
                "entries": 0, "bytes": 0, "tokens_read": 0, "beta": None, "compressor": None, "window": None}

    def save(self, directory: Path) -> dict[str, Any]:
        return self.describe()

    @classmethod
    def load(cls, directory: Path, state: dict[str, Any], config: MemoryConfig, generator: Any) -> NoMemory:
        memory = cls(config, generator)
        memory.documents = int(state.get("documents", 0))
        return memory
