"""Recall strategies: how the memory turns a question into clues (issue 7), selectable by name.

  generate   MemoRAG's free-text clues written by the memory model (span, surrogate questions, draft answer)
  copy       span clues copied token for token from the memorized text (exact offsets)
  attention  the chunks the question's attention over the memory lands on (kv and full memories)
  multihop   bridges copied from retrieved evidence, each querying the index again, a bounded number of hops
  none       no clues: the question alone (with a judge, what the judge adds without clues)

    from memorag.recall import RecallConfig, recall_clues
    clues = recall_clues("copy", question, rag.memory, rag.documents, rag.retriever, RecallConfig(spans=3))

Every clue names its strategy; grounded ones carry `doc_id`, `start`, `end` into `documents[doc_id].text`.
Not here: training the memory model for these strategies, fusing their hits with the question's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from memorag.recall.base import STRATEGIES, RecallConfig, RecallStrategy, nonblank
from memorag.types import Clue, Document


def make_strategy(name: str, config: RecallConfig | None = None) -> RecallStrategy:
    """The strategy called `name`, with `config` (defaults when None)."""
    if name == "generate":
        from memorag.recall.generate import GenerateRecall

        return GenerateRecall(config)
    if name == "copy":
        from memorag.recall.copy import CopyRecall

        return CopyRecall(config)
    if name == "attention":
        from memorag.recall.attention import AttentionRecall

        return AttentionRecall(config)
    if name == "multihop":
        from memorag.recall.multihop import MultihopRecall

        return MultihopRecall(config)
    if name == "none":
        from memorag.recall.base import NoRecall

        return NoRecall(config)
    raise ValueError(f"unknown recall strategy {name!r}; choose one of {STRATEGIES}")


def recall_clues(
    strategy: str | RecallStrategy,
    question: str,
    memory: Any,
    documents: Sequence[Document],
    retriever: Any = None,
    config: RecallConfig | None = None,
) -> list[Clue]:
    """Clues for `question` by one strategy (a name or a strategy object); never a blank clue.

    memory: the pipeline's memory; documents: the memorized ones, in order (`MemoRAG.documents`); retriever:
    the `Retriever` (attention ranks its `chunks`, multihop calls its `search`; generate and copy ignore it).
    """
    if not question.strip():
        raise ValueError("the question is empty")
    chosen = make_strategy(strategy, config) if isinstance(strategy, str) else strategy
    return nonblank(chosen.recall(question, memory, documents, retriever))


__all__ = ["STRATEGIES", "RecallConfig", "RecallStrategy", "make_strategy", "recall_clues"]
