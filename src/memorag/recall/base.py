"""What a recall strategy is: one method that turns a question into clues, given the memory and the index.

A strategy takes everything it reads explicitly: the memory (a `kv`/`full`/`gist` memory with a model, or any
`Memory` for `generate`), the memorized documents (for grounded offsets) and the retriever (`chunks`, `search`).
Settings live in one frozen `RecallConfig`. Not here: choosing or fusing strategies, training (issue 7).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from memorag.types import Clue, Document

ATTENTION_QUERIES = ("question", "prompt", "last")
STRATEGIES = ("generate", "copy", "attention", "multihop", "none")  # none: no clues, the question alone


@dataclass(frozen=True)
class RecallConfig:
    """Which strategy writes the clues (`strategy`, one of STRATEGIES) and the settings of every strategy; each
    reads only its own.

    generate: `clue_kinds` as in `Memory.clues`.
    copy: `spans` spans, their starts chosen among sentence starts by a beam of `beam_width` over the first
    `start_tokens` tokens' log-likelihood, then extended greedily to `max_span_tokens` or a sentence end.
    attention: mass of the question's attention per memory entry over `layers` and query `heads` (None: every
    global layer, every head), minus `null_weight` times a null question's, summed per chunk; the `top_chunks`
    best.
    multihop: at most `max_hops` hops, each reads the top `hop_passages` new passages and copies a bridge of at
    most `bridge_tokens` tokens.
    """

    strategy: str = "none"  # chosen on the train halves: the judged question pool (docs/architecture.md)
    clue_kinds: tuple[str, ...] = ("span", "question", "answer")
    spans: int = 3
    beam_width: int = 4
    start_tokens: int = 4
    max_span_tokens: int = 32
    min_span_chars: int = 16
    layers: tuple[int, ...] | None = None
    heads: tuple[int, ...] | None = None
    attention_query: str = "question"  # "question" tokens, every "prompt" token, or the "last" prompt token
    null_question: str = "What is the text about?"
    null_weight: float = 1.0
    top_chunks: int = 3
    max_hops: int = 2
    hop_passages: int = 1
    bridge_tokens: int = 16

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown recall strategy {self.strategy!r}; choose one of {STRATEGIES}")
        if self.attention_query not in ATTENTION_QUERIES:
            raise ValueError(
                f"attention_query must be one of {ATTENTION_QUERIES}, not {self.attention_query!r}"
            )
        for name in (
            "spans",
            "beam_width",
            "start_tokens",
            "max_span_tokens",
            "top_chunks",
            "max_hops",
            "hop_passages",
            "bridge_tokens",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"RecallConfig.{name} must be at least 1, not {getattr(self, name)}")
        if self.start_tokens > self.max_span_tokens:
            raise ValueError("RecallConfig.start_tokens cannot exceed max_span_tokens")


class RecallStrategy(Protocol):
    name: str

    def recall(
        self, question: str, memory: Any, documents: Sequence[Document], retriever: Any = None
    ) -> list[Clue]:
        """Clues for `question`; never an empty or whitespace-only one."""


class NoRecall:
    """Strategy "none": no clues, so the question alone queries the index (and, in memorag mode, the judge reads
    the question's own pool)."""

    name = "none"

    def __init__(self, config: RecallConfig | None = None) -> None:
        self.config = config or RecallConfig()

    def recall(
        self, question: str, memory: Any, documents: Sequence[Document], retriever: Any = None
    ) -> list[Clue]:
        return []


def memory_reader(memory: Any) -> Any:
    """The KV memory with a model behind `memory` (a gist memory keeps one inside); refuses kind `none`."""
    reader = getattr(memory, "inner", memory)
    if getattr(reader, "model", None) is None or not hasattr(reader, "_question_cache"):
        kind = getattr(memory, "kind", type(memory).__name__)
        raise ValueError(f"memory kind {kind!r} has no memory model to read with: use kind kv, full or gist")
    if reader.is_empty:
        from memorag.errors import NotMemorizedError

        raise NotMemorizedError("the memory is empty: call memorize() first, or load a store")
    return reader


def nonblank(clues: Sequence[Clue]) -> list[Clue]:
    """Clues with text, each text once (first kept)."""
    seen: set[str] = set()
    kept: list[Clue] = []
    for clue in clues:
        key = clue.text.strip()
        if key and key not in seen:
            seen.add(key)
            kept.append(clue)
    return kept
