"""Exact inner-product search over unit vectors (cosine similarity) with FAISS `IndexFlatIP`.

Saved with `faiss.write_index` (FAISS's own binary format, no pickle) through a temporary file that is
renamed into place, so a crash never leaves half an index under the final name.
Deleting vectors copies the kept ones into a new index (`select`), exactly, without the embedder.
Does not handle: approximate indexes (IVF, HNSW), deleting in place, GPU indexes. Exact search over a few
hundred thousand 384-d chunks takes milliseconds, which is what one memorized context yields.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from memorag.errors import StoreCorruptError


def _faiss() -> Any:
    import faiss  # imported on first use, so `import memorag` does not load it

    return faiss


class VectorIndex:
    """Vectors get ids 0, 1, 2, ... in the order they are added."""

    def __init__(self, dimension: int) -> None:
        if dimension < 1:
            raise ValueError(f"dimension must be at least 1, not {dimension}")
        self.dimension = dimension
        self._index = _faiss().IndexFlatIP(dimension)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def _rows(self, vectors: np.ndarray, what: str) -> np.ndarray:
        array = np.asarray(vectors, dtype=np.float32)
        if array.ndim != 2 or array.shape[1] != self.dimension:
            raise ValueError(f"{what} must have shape (n, {self.dimension}), not {array.shape}")
        return np.ascontiguousarray(array)

    def add(self, vectors: np.ndarray) -> None:
        """Append (n, dimension) vectors; they should be L2-normalized for scores to be cosines."""
        rows = self._rows(vectors, "vectors")
        if len(rows):
            self._index.add(rows)

    def select(self, ids: Sequence[int]) -> VectorIndex:
        """A new index of the vectors at `ids`, in that order (their ids become 0, 1, ...); bit-exact copies."""
        rows = np.asarray(ids, dtype=np.int64).reshape(-1)  # (n_kept,)
        if len(rows) and (rows.min() < 0 or rows.max() >= len(self)):
            raise ValueError(f"ids must lie in 0..{len(self) - 1}; got {rows.min()}..{rows.max()}")
        subset = VectorIndex(self.dimension)
        if len(rows):
            subset.add(self._index.reconstruct_batch(rows))  # (n_kept, dimension), read from the flat index
        return subset

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k best vectors per query: (scores, ids), each (n_queries, min(k, len(self))), best first."""
        if k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
        rows = self._rows(queries, "queries")
        k = min(k, len(self))
        if k == 0 or len(rows) == 0:
            return np.zeros((len(rows), k), dtype=np.float32), np.zeros((len(rows), k), dtype=np.int64)
        scores, ids = self._index.search(rows, k)  # (n_queries, k) each
        return scores, ids.astype(np.int64)

    def save(self, path: Path) -> None:
        """Write the index to `path` atomically (temporary file, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            _faiss().write_index(self._index, str(temporary))
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path, dimension: int | None = None) -> VectorIndex:
        """Read an index saved by `save`; StoreCorruptError if it is missing, unreadable or of another shape."""
        path = Path(path)
        if not path.is_file():
            raise StoreCorruptError(f"vector index {path} is missing; rebuild the store by memorizing again")
        faiss = _faiss()
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise StoreCorruptError(
                f"vector index {path} is truncated or unreadable ({str(exc).splitlines()[-1][:200]}); "
                "rebuild the store by memorizing again"
            ) from exc
        if not isinstance(index, faiss.IndexFlatIP):
            raise StoreCorruptError(f"vector index {path} is a {type(index).__name__}, not an IndexFlatIP")
        if dimension is not None and index.d != dimension:
            raise StoreCorruptError(
                f"vector index {path} holds {index.d}-d vectors but the embedder makes {dimension}-d ones; "
                "load it with the embedder it was built with, or memorize again"
            )
        loaded = cls(index.d)
        loaded._index = index
        return loaded
