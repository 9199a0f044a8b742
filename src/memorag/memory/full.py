"""The `full` memory: the memory model's plain KV cache over the whole context (the paper's "long LLM as memory").

It is the `kv` memory at beta 1: nothing is dropped, so it is the upper bound for the compressed kinds and works
only while the context fits the model's native window. Prefill still goes window by window (same cache, lower
peak memory; at beta 1 the result equals one pass, tests/memory/test_kv_tiny.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from memorag.config import MemoryConfig
from memorag.errors import MemoryBudgetError
from memorag.memory.kv import KVMemory
from memorag.types import Document


class FullMemory(KVMemory):
    kind = "full"

    def __init__(self, config: MemoryConfig, model: Any = None, tokenizer: Any = None) -> None:
        super().__init__(replace(config, beta=1), model, tokenizer)

    def plan(self, documents: Sequence[Document]) -> list[int]:
        try:
            return super().plan(documents)
        except MemoryBudgetError as exc:
            raise MemoryBudgetError(
                f"memory kind 'full' keeps every token, and this context does not fit the memory model's "
                f"{self.native_window}-token window: use kind 'kv' (compressed) or 'gist' ({exc})"
            ) from exc
