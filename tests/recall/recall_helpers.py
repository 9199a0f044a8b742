"""Shared pieces of the recall tests: tiny memories, hand-made chunks and a word-overlap fake retriever."""

from __future__ import annotations

import re
from collections.abc import Sequence

from memorag.config import MemoryConfig
from memorag.memory import make_memory
from memorag.types import Chunk, Document

DOCUMENTS = [
    Document(
        "alpha.txt",
        "1. Intro\nThe vault code is kept by Harwick. Harwick lives in Dunmore.\n"
        "Dunmore is a town on the river Slane. The river floods in spring.",
    ),
    Document(
        "beta.txt", "Passage 2:\nMara wrote the ledger in 1902. The ledger names every keeper of the vault."
    ),
]
SMALL = {"window": 16, "reserve": 32, "observation": 4, "max_clue_tokens": 6}


def tiny_memory(tiny_llama, documents: Sequence[Document] = DOCUMENTS, **overrides):
    model, tokenizer = tiny_llama
    memory = make_memory(MemoryConfig(**{**SMALL, **overrides}), model=model, tokenizer=tokenizer)
    memory.memorize(list(documents))
    return memory


def fixed_chunks(documents: Sequence[Document], width: int = 40, overlap: int = 8) -> list[Chunk]:
    """Character windows of `width` sharing `overlap` characters (the tiny tokenizer is one token a character)."""
    chunks: list[Chunk] = []
    for doc_id, document in enumerate(documents):
        for start in range(0, len(document.text), width - overlap):
            end = min(start + width, len(document.text))
            chunks.append(Chunk(len(chunks), doc_id, document.source, start, end, document.text[start:end]))
            if end == len(document.text):
                break
    return chunks


class WordRetriever:
    """Ranks chunks by how many lower-cased words they share with the query; records every search."""

    def __init__(self, chunks: Sequence[Chunk]) -> None:
        self.chunks = list(chunks)
        self.searches: list[list[str]] = []

    def search(self, queries: Sequence[str], top_k: int) -> list[tuple[str, list[tuple[int, float]]]]:
        self.searches.append(list(queries))
        results = []
        for query in queries:
            words = set(re.findall(r"\w+", query.lower()))
            scored = [
                (c.chunk_id, float(len(words & set(re.findall(r"\w+", c.text.lower()))))) for c in self.chunks
            ]
            results.append((query, sorted(scored, key=lambda hit: -hit[1])[:top_k]))
        return results
