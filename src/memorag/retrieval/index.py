"""Inner-product search over unit vectors (cosine similarity): exact, approximate past a size, or LanceDB.

`kind` (RetrievalConfig.index) picks the store (memorag.retrieval.vector_stores): "exact" FAISS `IndexFlatIP`;
"ivf" or "hnsw" FAISS approximate search, its depth tuned on held-out new vectors to recall@10 0.97; "lancedb"
a LanceDB table; "auto" exact below `approximate_after` vectors and IVF from there (docs/scale.md, "Index": at
100k 384-d vectors on one thread IVF builds in 13.5 s and HNSW in 41 s for the same recall@10, 0.99, and a delete
costs IVF 2.3 s against HNSW's 35 s). An approximate kind with no vectors yet is exact; an add or a delete that
crosses a threshold rebuilds.

Saved at `path` (`index.faiss`, FAISS's own binary format, through a temporary file renamed into place) with the
store's parameters in `index.json` beside it ({"format": "memorag-index v1", "kind", ...}); an exact index
writes `index.faiss` alone, as every store did before, and a file without `index.json` loads as exact. LanceDB
writes the folder `index.lancedb` instead of `index.faiss`. No pickle.
Deleting vectors copies the kept ones into a new index (`select`), bit-exact, without the embedder.
Does not handle: deleting in place, GPU indexes, compressed (PQ) vectors.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from memorag.config import INDEXES
from memorag.errors import StoreCorruptError
from memorag.retrieval.vector_stores import STORES, VectorStore

FORMAT = "memorag-index v1"
APPROXIMATE_AFTER = 50_000  # RetrievalConfig.approximate_after's default


def store_kind(kind: str, count: int, approximate_after: int) -> str:
    """The store that holds `count` vectors under `kind`: "auto" is exact below `approximate_after`, IVF from
    there; an approximate kind with nothing to train on is exact."""
    if kind == "auto":
        return "ivf" if count >= approximate_after else "exact"
    if kind in ("ivf", "hnsw") and count == 0:
        return "exact"
    return kind


class VectorIndex:
    """Vectors get ids 0, 1, 2, ... in the order they are added."""

    def __init__(self, dimension: int, kind: str = "auto", approximate_after: int = APPROXIMATE_AFTER) -> None:
        if dimension < 1:
            raise ValueError(f"dimension must be at least 1, not {dimension}")
        if kind not in INDEXES:
            raise ValueError(f"index kind must be one of {INDEXES}, not {kind!r}")
        self.dimension, self.kind, self.approximate_after = dimension, kind, approximate_after
        self._store: VectorStore = STORES[store_kind(kind, 0, approximate_after)](dimension)

    def __len__(self) -> int:
        return len(self._store)

    @property
    def store(self) -> str:
        """The store in use now: "exact", "ivf", "hnsw" or "lancedb"."""
        return self._store.kind

    def params(self) -> dict[str, Any]:
        """What `save` records in `index.json` (empty for an exact index, which writes none)."""
        if self._store.kind == "exact":
            return {}
        return {"format": FORMAT, "kind": self._store.kind, "count": len(self), "dimension": self.dimension,
                **self._store.params()}

    def _rows(self, vectors: np.ndarray, what: str) -> np.ndarray:
        array = np.asarray(vectors, dtype=np.float32)
        if array.ndim != 2 or array.shape[1] != self.dimension:
            raise ValueError(f"{what} must have shape (n, {self.dimension}), not {array.shape}")
        return np.ascontiguousarray(array)

    def _holding(self, vectors: np.ndarray, current: VectorStore) -> VectorStore:
        """A store of the right kind for exactly `vectors`, reusing `current`'s training where it suits them."""
        kind = store_kind(self.kind, len(vectors), self.approximate_after)
        if kind == current.kind and current.suits(len(vectors)):
            return current.rebuilt(vectors)
        return STORES[kind].build(vectors, self.dimension)

    def add(self, vectors: np.ndarray) -> None:
        """Append (n, dimension) vectors; they should be L2-normalized for scores to be cosines."""
        rows = self._rows(vectors, "vectors")
        if not len(rows):
            return
        total = len(self) + len(rows)
        if store_kind(self.kind, total, self.approximate_after) == self._store.kind and self._store.suits(total):
            self._store.add(rows)
        else:  # crossing a threshold: exact -> IVF, or IVF centroids trained on far fewer vectors
            self._store = self._holding(np.concatenate([self.vectors(), rows]), self._store)

    def vectors(self, ids: Sequence[int] | None = None) -> np.ndarray:
        """The stored vectors at `ids` (None: all), bit-exact: (len(ids), dimension)."""
        rows = np.arange(len(self)) if ids is None else np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(rows) and (rows.min() < 0 or rows.max() >= len(self)):
            raise ValueError(f"ids must lie in 0..{len(self) - 1}; got {rows.min()}..{rows.max()}")
        if not len(rows):
            return np.zeros((0, self.dimension), np.float32)
        return self._store.vectors(rows)

    def select(self, ids: Sequence[int]) -> VectorIndex:
        """A new index of the vectors at `ids`, in that order (their ids become 0, 1, ...); bit-exact copies.
        An approximate index is rebuilt from them (IVF keeps its centroids while the size suits them)."""
        kept = self.vectors(ids)  # (n_kept, dimension)
        subset = VectorIndex(self.dimension, self.kind, self.approximate_after)
        if len(kept):
            subset._store = self._holding(kept, self._store)
        return subset

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k best vectors per query: (scores, ids), each (n_queries, min(k, len(self))), best first.
        Approximate stores may find fewer than k: those places hold id -1."""
        if k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
        rows = self._rows(queries, "queries")
        k = min(k, len(self))
        if k == 0 or len(rows) == 0:
            return np.zeros((len(rows), k), dtype=np.float32), np.zeros((len(rows), k), dtype=np.int64)
        scores, ids = self._store.search(rows, k)  # (n_queries, k) each
        return scores, ids.astype(np.int64)

    def save(self, path: Path) -> None:
        """Write the index to `path` atomically (temporary file, then rename) and its parameters beside it."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._store.save(path)
        params_path = path.with_suffix(".json")
        if self._store.kind == "exact":
            params_path.unlink(missing_ok=True)
            return
        temporary = params_path.with_name(f".{params_path.name}.{os.getpid()}.tmp")
        try:
            temporary.write_text(json.dumps(self.params(), indent=1), encoding="utf-8")
            os.replace(temporary, params_path)
        finally:
            temporary.unlink(missing_ok=True)

    @classmethod
    def load(
        cls, path: Path, dimension: int | None = None, kind: str = "auto", approximate_after: int = APPROXIMATE_AFTER
    ) -> VectorIndex:
        """Read an index saved by `save`; StoreCorruptError if it is missing, unreadable or of another shape.
        `kind` and `approximate_after` govern later changes; the files say which store was saved."""
        path = Path(path)
        params = read_params(path.with_suffix(".json"))
        store = STORES[params.get("kind", "exact")].load(path, params, dimension)
        if params and (params.get("count") != len(store) or params.get("dimension") != store.dimension):
            raise StoreCorruptError(
                f"{path.with_suffix('.json')} records {params.get('count')} {params.get('dimension')}-d vectors "
                f"but the index holds {len(store)} {store.dimension}-d ones; rebuild the store by memorizing again"
            )
        loaded = cls(store.dimension, kind, approximate_after)
        loaded._store = store
        return loaded


def read_params(path: Path) -> dict[str, Any]:
    """The parameters saved beside an index ({} when there are none: an exact index)."""
    if not path.is_file():
        return {}
    try:
        params = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise StoreCorruptError(f"{path} is unreadable ({exc}); rebuild the store by memorizing again") from exc
    if not isinstance(params, dict) or params.get("format") != FORMAT or params.get("kind") not in STORES:
        raise StoreCorruptError(f"{path} is not a {FORMAT} file of a known kind; rebuild the store by memorizing again")
    return params
