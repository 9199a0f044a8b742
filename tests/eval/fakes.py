"""Fakes shared by the eval tests (imported as `fakes`: pytest puts this folder on sys.path)."""

from __future__ import annotations

from memorag.types import Chunk


class OneChunkRetriever:
    """An index of one chunk, the whole context: every query hits it."""

    def __init__(self, context: str) -> None:
        self.chunks = [Chunk(0, 0, "doc", 0, len(context), context)]
        self.searched: list[list[str]] = []

    def search(
        self, queries: list[str], top_k: int, retriever: str | None = None
    ) -> list[tuple[str, list[tuple[int, float]]]]:
        self.searched.append(list(queries))
        return [(query, [(0, 1.0)]) for query in queries]
