"""memorag: global-memory-enhanced retrieval augmentation (MemoRAG, arXiv 2409.05591) on CPU-sized models.

    from memorag import MemoRAG
    rag = MemoRAG()
    rag.memorize(open("book.txt").read(), store="stores/book")
    print(rag.ask("How does the story end?").answer)

Importing memorag loads no model and no torch; they load when first used.
"""

from __future__ import annotations

__version__ = "0.1.0"

from memorag.config import GenerationConfig, JudgeConfig, MemoryConfig, RetrievalConfig
from memorag.errors import (
    DocumentNotFoundError,
    EmptyInputError,
    EmptyStoreError,
    GenerationError,
    InputDecodeError,
    LockTimeoutError,
    MemoRAGError,
    MemoryBudgetError,
    NotMemorizedError,
    NotOursError,
    StoreChangedError,
    StoreCorruptError,
    StoreExistsError,
    StoreMismatchError,
    StoreNotFoundError,
    UnknownModelError,
)
from memorag.types import Answer, Chunk, Citation, Clue, Document, EvidencePassage


def __getattr__(name: str) -> object:
    # Keep `import memorag` light: the pipeline's modules load only when MemoRAG is first used.
    if name == "MemoRAG":
        from memorag.pipeline import MemoRAG

        return MemoRAG
    raise AttributeError(f"module 'memorag' has no attribute {name!r}")


__all__ = [
    "Answer",
    "Chunk",
    "Citation",
    "Clue",
    "Document",
    "DocumentNotFoundError",
    "EmptyInputError",
    "EmptyStoreError",
    "EvidencePassage",
    "GenerationConfig",
    "GenerationError",
    "InputDecodeError",
    "JudgeConfig",
    "LockTimeoutError",
    "MemoRAG",
    "MemoRAGError",
    "MemoryBudgetError",
    "MemoryConfig",
    "NotMemorizedError",
    "NotOursError",
    "RetrievalConfig",
    "StoreChangedError",
    "StoreCorruptError",
    "StoreExistsError",
    "StoreMismatchError",
    "StoreNotFoundError",
    "UnknownModelError",
]
