"""The stores behind VectorIndex: FAISS exact, IVF and HNSW search, and a LanceDB table.

Every store numbers vectors 0, 1, ... in the order they are added and keeps them whole (`vectors(ids)` gives
bit-exact copies: IVFFlat and HNSWFlat store raw float32 rows, as the flat index and Lance do), so deleting
documents rebuilds a store from the kept vectors without the embedder. Inner product throughout: the vectors
are unit length, so scores are cosines.

The approximate stores tune their search depth (IVF `nprobe`, HNSW `efSearch`) on held-out queries: new vectors
searched before they are added, at each setting and by exact search over what is stored; the smallest setting
whose recall@10 reaches CALIBRATED_RECALL is kept (again at every add of 16 vectors or more, and every rebuild).
A stored vector is no query: HNSW finds it, and so its graph neighbours, far too easily. Parameters are
returned by `params()` as JSON and given back to `load`; FAISS files are written with `faiss.write_index`,
Lance tables as Lance files: no pickle.
Does not handle: GPU indexes, compressed vectors (PQ, SQ), deleting in place, LanceDB's own ANN indexes (its
table is searched exhaustively: exact).
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from memorag.errors import StoreChangedError, StoreCorruptError

RECALL_DEPTH = 10  # recall@10 is what the targets below measure
CALIBRATED_RECALL = 0.97  # a margin over the 0.95 asked for, for 256 queries' sampling error (docs/scale.md)
CALIBRATION_QUERIES = 256  # held-out queries per calibration (2,560 neighbours to find)
MIN_CALIBRATION_QUERIES = 16
IVF_LISTS_PER_ROOT = 4  # nlist = 4 sqrt(n), FAISS's rule of thumb
IVF_MIN_POINTS_PER_LIST = 39  # fewer training points per centroid and FAISS's k-means warns
IVF_TRAIN_ITERATIONS = 10  # k-means iterations; the calibrated nprobe absorbs what more would refine
IVF_REGROWTH = 4  # retrain the centroids when the vectors grow or shrink 4x past those they were trained on
HNSW_M = 32  # graph degree: M=16 stopped at recall@10 0.94 (efSearch 256) on the 100k benchmark corpus
HNSW_EF_CONSTRUCTION = 80
EF_SEARCH_CHOICES = (16, 32, 64, 128, 256, 512, 1024)


def faiss_module() -> Any:
    import faiss  # imported on first use, so `import memorag` does not load it

    return faiss


class VectorStore(Protocol):
    """What VectorIndex asks of a store; ids are 0..len-1 in the order added."""

    kind: str
    dimension: int

    def __len__(self) -> int: ...

    def add(self, vectors: np.ndarray) -> None: ...  # (n, dimension) float32, C-contiguous

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...  # (n_q, k) each; id -1 pads

    def vectors(self, ids: np.ndarray) -> np.ndarray: ...  # (len(ids), dimension), bit-exact copies

    def suits(self, count: int) -> bool: ...  # False: rebuild from scratch (IVF centroids trained on other sizes)

    def rebuilt(self, vectors: np.ndarray) -> VectorStore: ...  # same kind and settings, holding exactly `vectors`

    def params(self) -> dict[str, Any]: ...  # JSON, saved beside the index and given back to `load`

    def save(self, path: Path) -> None: ...


# ----- FAISS -------------------------------------------------------------------------------------------------
def read_faiss(path: Path, expected: str, dimension: int | None) -> Any:
    """The FAISS index at `path`, or StoreCorruptError when it is missing, unreadable, not `expected` or of
    another dimension."""
    if not path.is_file():
        raise StoreCorruptError(f"vector index {path} is missing; rebuild the store by memorizing again")
    faiss = faiss_module()
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as exc:
        raise StoreCorruptError(
            f"vector index {path} is truncated or unreadable ({str(exc).splitlines()[-1][:200]}); "
            "rebuild the store by memorizing again"
        ) from exc
    if type(index).__name__ != expected:
        raise StoreCorruptError(f"vector index {path} is a {type(index).__name__}, not an {expected}")
    if dimension is not None and index.d != dimension:
        raise StoreCorruptError(
            f"vector index {path} holds {index.d}-d vectors but the embedder makes {dimension}-d ones; "
            "load it with the embedder it was built with, or memorize again"
        )
    return index


def write_faiss(index: Any, path: Path) -> None:
    """`faiss.write_index` to a temporary file renamed into place: a crash never leaves half an index."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        faiss_module().write_index(index, str(temporary))
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def calibrate(
    queries: np.ndarray, stored: np.ndarray, search_at: Callable[[np.ndarray, int, int], np.ndarray],
    settings: Sequence[int],
) -> tuple[int, float]:
    """The first of `settings` (ascending) whose recall@10 of `queries` against exact search over `stored` (the
    vectors the store holds, none of them a query) reaches CALIBRATED_RECALL, and that recall; the last setting
    when none does. `search_at(queries, k, setting) -> ids (n_q, k)`."""
    k = min(RECALL_DEPTH, len(stored))
    _, exact = faiss_module().knn(queries, stored, k, metric=faiss_module().METRIC_INNER_PRODUCT)  # (n_q, k)
    wanted = [set(row) for row in exact.tolist()]
    for setting in settings:
        found = search_at(queries, k, setting).tolist()
        recall = sum(len(want & set(row)) for want, row in zip(wanted, found)) / (len(queries) * k)
        if recall >= CALIBRATED_RECALL:
            break
    return setting, recall


class FlatStore:
    """Exact search (`IndexFlatIP`); saved as `index.faiss` alone, as every store was before approximate ones."""

    kind = "exact"
    expected = "IndexFlatIP"

    def __init__(self, dimension: int, index: Any = None) -> None:
        self.dimension = dimension
        self._index = index if index is not None else faiss_module().IndexFlatIP(dimension)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, vectors: np.ndarray) -> None:
        self._index.add(vectors)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self._index.search(queries, k)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        return self._index.reconstruct_batch(ids) if len(ids) else np.zeros((0, self.dimension), np.float32)

    def suits(self, count: int) -> bool:
        return True

    def rebuilt(self, vectors: np.ndarray) -> FlatStore:
        return type(self).build(vectors, self.dimension)

    def params(self) -> dict[str, Any]:
        return {}

    def save(self, path: Path) -> None:
        write_faiss(self._index, path)

    @classmethod
    def build(cls, vectors: np.ndarray, dimension: int) -> FlatStore:
        store = cls(dimension)
        if len(vectors):
            store.add(vectors)
        return store

    @classmethod
    def load(cls, path: Path, params: dict[str, Any], dimension: int | None) -> FlatStore:
        index = read_faiss(path, cls.expected, dimension)
        return cls(index.d, index)


class ApproximateStore(FlatStore):
    """A FAISS index whose search depth (`setting`) is tuned on held-out queries: new vectors searched before
    they are added (all of them but the last few, when the store starts empty; those are the queries). Fewer
    than MIN_CALIBRATION_QUERIES new vectors keep the depth as it was; the first vectors of all take the deepest
    setting until there are enough."""

    def __init__(self, dimension: int, index: Any, setting: int, recall: float) -> None:
        super().__init__(dimension, index)
        self.setting, self.recall = setting, recall
        self._apply(setting)

    def settings(self) -> Sequence[int]:  # the search depths tried, ascending
        raise NotImplementedError

    def _apply(self, setting: int) -> None:  # make `setting` the depth `search` uses
        raise NotImplementedError

    def _search_at(self, queries: np.ndarray, k: int, setting: int) -> np.ndarray:  # ids (n_q, k)
        raise NotImplementedError

    def add(self, vectors: np.ndarray) -> None:
        was_empty = len(self) == 0
        if was_empty:  # the last new vectors are the queries, searched before they are added
            held = min(CALIBRATION_QUERIES, len(vectors) // 4)
            held = held if held >= MIN_CALIBRATION_QUERIES else 0
            self._index.add(vectors[: len(vectors) - held])
            vectors = queries = vectors[len(vectors) - held :]
        else:  # a sample of the new vectors are the queries, searched before any is added
            rng = np.random.default_rng(len(self))  # seeded: the same adds choose the same setting
            picked = np.sort(rng.choice(len(vectors), size=min(CALIBRATION_QUERIES, len(vectors)), replace=False))
            queries = vectors[picked] if len(vectors) >= MIN_CALIBRATION_QUERIES else vectors[:0]
        if len(queries):
            stored = self.vectors(np.arange(len(self)))  # (n, dimension)
            self.setting, self.recall = calibrate(queries, stored, self._search_at, self.settings())
        elif was_empty:  # too few vectors to measure: search as deep as it goes
            self.setting, self.recall = self.settings()[-1], 1.0
        self._apply(self.setting)
        if len(vectors):
            self._index.add(vectors)


class IVFStore(ApproximateStore):
    """`IndexIVFFlat`: k-means centroids (nlist ~ 4 sqrt(n)) split the vectors into lists; a query scans the
    `nprobe` lists whose centroids are nearest. Appends keep the centroids until the vectors grow 4x."""

    kind = "ivf"
    expected = "IndexIVFFlat"

    def __init__(self, dimension: int, index: Any, trained_on: int, nprobe: int, recall: float) -> None:
        index.make_direct_map()  # id -> (list, offset), so vectors(ids) can read rows back
        super().__init__(dimension, index, nprobe, recall)
        self.trained_on = trained_on

    @staticmethod
    def lists_for(count: int) -> int:
        wanted = round(IVF_LISTS_PER_ROOT * math.sqrt(count))
        return max(1, min(wanted, count // IVF_MIN_POINTS_PER_LIST))

    def settings(self) -> Sequence[int]:
        lists = int(self._index.nlist)
        return sorted({min(2**step, lists) for step in range(lists.bit_length() + 1)})

    def _apply(self, setting: int) -> None:
        self._index.nprobe = setting

    def _search_at(self, queries: np.ndarray, k: int, nprobe: int) -> np.ndarray:
        return self._index.search(queries, k, params=faiss_module().SearchParametersIVF(nprobe=nprobe))[1]

    def suits(self, count: int) -> bool:
        return count < IVF_REGROWTH * self.trained_on and count * IVF_REGROWTH > self.trained_on

    def rebuilt(self, vectors: np.ndarray) -> IVFStore:
        """The same centroids (no k-means), holding `vectors`: a delete costs an add and a calibration."""
        index = faiss_module().clone_index(self._index)
        index.reset()
        store = IVFStore(self.dimension, index, self.trained_on, self.setting, self.recall)
        store.add(vectors)
        return store

    def params(self) -> dict[str, Any]:
        return {"nlist": int(self._index.nlist), "nprobe": self.setting, "trained_on": self.trained_on,
                "kmeans_iterations": IVF_TRAIN_ITERATIONS, "calibrated_recall_at_10": round(self.recall, 4)}

    @classmethod
    def build(cls, vectors: np.ndarray, dimension: int) -> IVFStore:
        faiss = faiss_module()
        lists = cls.lists_for(len(vectors))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dimension), dimension, lists, faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = IVF_TRAIN_ITERATIONS
        index.cp.min_points_per_centroid = 1  # lists_for keeps 39 per list; tiny corpora get 1 list, unwarned
        index.cp.seed = 1234  # FAISS's default, stated: the same vectors give the same centroids
        index.train(vectors)
        store = cls(dimension, index, len(vectors), lists, 1.0)
        store.add(vectors)
        return store

    @classmethod
    def load(cls, path: Path, params: dict[str, Any], dimension: int | None) -> IVFStore:
        index = read_faiss(path, cls.expected, dimension)
        return cls(index.d, index, int(params["trained_on"]), int(params["nprobe"]),
                   float(params["calibrated_recall_at_10"]))


class HNSWStore(ApproximateStore):
    """`IndexHNSWFlat`: a navigable small-world graph of degree M; a query walks it keeping the `efSearch` best
    candidates. Appends extend the graph; a delete rebuilds it from the kept vectors."""

    kind = "hnsw"
    expected = "IndexHNSWFlat"

    def settings(self) -> Sequence[int]:
        return EF_SEARCH_CHOICES

    def _apply(self, setting: int) -> None:
        self._index.hnsw.efSearch = setting

    def _search_at(self, queries: np.ndarray, k: int, ef_search: int) -> np.ndarray:
        return self._index.search(queries, k, params=faiss_module().SearchParametersHNSW(efSearch=ef_search))[1]

    def params(self) -> dict[str, Any]:
        return {"M": HNSW_M, "ef_construction": int(self._index.hnsw.efConstruction), "ef_search": self.setting,
                "calibrated_recall_at_10": round(self.recall, 4)}

    @classmethod
    def build(cls, vectors: np.ndarray, dimension: int) -> HNSWStore:
        index = faiss_module().IndexHNSWFlat(dimension, HNSW_M, faiss_module().METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        store = cls(dimension, index, EF_SEARCH_CHOICES[-1], 1.0)
        if len(vectors):
            store.add(vectors)
        return store

    @classmethod
    def load(cls, path: Path, params: dict[str, Any], dimension: int | None) -> HNSWStore:
        index = read_faiss(path, cls.expected, dimension)
        return cls(index.d, index, int(params["ef_search"]), float(params["calibrated_recall_at_10"]))


# ----- LanceDB -----------------------------------------------------------------------------------------------
def lancedb_module() -> Any:
    try:
        import lancedb
    except ImportError as exc:
        raise ImportError(
            f"the lancedb index needs LanceDB ({exc}): run `pip install 'memorag[lancedb]'`, or choose "
            "RetrievalConfig(index='exact')"
        ) from exc
    return lancedb


LANCE_TABLE = "vectors"


class LanceStore:
    """A LanceDB table (columns id, vector) searched exhaustively by inner product ("dot": distance 1 - score).

    Until saved the table lives in memory; `save(path)` writes it as the folder `index.lancedb` beside `path`;
    `load` opens that folder and only reads it: the first change copies the table back into memory, so the
    revision it was read from stays as it was written (the store's atomic switch depends on that)."""

    kind = "lancedb"

    def __init__(self, dimension: int, table: Any = None, folder: Path | None = None) -> None:
        self.dimension = dimension
        self._table, self._folder = table, folder  # folder: the saved table this one reads, None when in memory
        self._count = 0 if table is None else int(table.count_rows())

    def __len__(self) -> int:
        return self._count

    def _rows(self, vectors: np.ndarray, first_id: int) -> Any:
        import pyarrow as pa

        ids = pa.array(np.arange(first_id, first_id + len(vectors)), pa.int64())
        flat = pa.array(np.ascontiguousarray(vectors, np.float32).reshape(-1))
        return pa.table({"id": ids, "vector": pa.FixedSizeListArray.from_arrays(flat, self.dimension)})

    def add(self, vectors: np.ndarray) -> None:
        if self._folder is not None:  # copy on write: a saved revision is never changed
            vectors = np.concatenate([self._read(), vectors])
            self._table, self._folder, self._count = None, None, 0
        rows = self._rows(vectors, self._count)
        if self._table is None:
            self._table = lancedb_module().connect("memory://").create_table(LANCE_TABLE, data=rows)
        else:
            self._table.add(rows)
        self._count += len(vectors)

    def _read(self) -> np.ndarray:
        """Every stored vector, row i holding id i: (n, dimension)."""
        if not self._count:
            return np.zeros((0, self.dimension), np.float32)
        data = self._table.to_arrow().sort_by("id")
        flat = data.column("vector").combine_chunks().values.to_numpy(zero_copy_only=False)
        return np.asarray(flat, np.float32).reshape(-1, self.dimension)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        return self._read()[ids]

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores, ids = np.full((len(queries), k), -np.inf, np.float32), np.full((len(queries), k), -1, np.int64)
        try:
            hits = self._table.search(queries).distance_type("dot").limit(k).select(["id", "_distance"]).to_arrow()
        except (OSError, RuntimeError, ValueError) as exc:
            if self._folder is not None and not self._folder.is_dir():
                raise StoreChangedError(f"{self._folder} was removed by a newer write of the store; load the "
                                        "store again") from exc
            raise
        rows = hits.column("query_index").to_numpy() if len(queries) > 1 else np.zeros(len(hits), np.int64)
        found, distances = hits.column("id").to_numpy(), hits.column("_distance").to_numpy()
        for row in range(len(queries)):
            mine = np.flatnonzero(rows == row)
            mine = mine[np.argsort(distances[mine], kind="stable")][:k]
            ids[row, : len(mine)], scores[row, : len(mine)] = found[mine], 1.0 - distances[mine]
        return scores, ids

    def suits(self, count: int) -> bool:
        return True

    def rebuilt(self, vectors: np.ndarray) -> LanceStore:
        store = LanceStore(self.dimension)
        if len(vectors):
            store.add(vectors)
        return store

    def params(self) -> dict[str, Any]:
        return {"table": LANCE_TABLE, "metric": "dot", "search": "exhaustive"}

    def save(self, path: Path) -> None:
        """Write the table as `index.lancedb` beside `path`: into a temporary folder, then renamed into place."""
        folder = path.with_suffix(".lancedb")
        if self._folder is not None and self._folder.resolve() == folder.resolve():
            return  # unchanged since it was read from here
        temporary = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
        shutil.rmtree(temporary, ignore_errors=True)
        try:
            data = self._table.to_arrow() if self._table is not None else self._rows(np.zeros((0, self.dimension)), 0)
            lancedb_module().connect(str(temporary)).create_table(LANCE_TABLE, data=data)
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(temporary, folder)
        finally:
            shutil.rmtree(temporary, ignore_errors=True)

    @classmethod
    def build(cls, vectors: np.ndarray, dimension: int) -> LanceStore:
        return cls(dimension).rebuilt(vectors)

    @classmethod
    def load(cls, path: Path, params: dict[str, Any], dimension: int | None) -> LanceStore:
        folder = path.with_suffix(".lancedb")
        if not folder.is_dir():
            raise StoreCorruptError(f"LanceDB table {folder} is missing; rebuild the store by memorizing again")
        try:
            table = lancedb_module().connect(str(folder)).open_table(params.get("table", LANCE_TABLE))
            width = table.schema.field("vector").type.list_size
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            raise StoreCorruptError(f"LanceDB table {folder} is unreadable ({str(exc)[:200]}); rebuild the store "
                                    "by memorizing again") from exc
        if dimension is not None and width != dimension:
            raise StoreCorruptError(f"LanceDB table {folder} holds {width}-d vectors but the embedder makes "
                                    f"{dimension}-d ones; load it with the embedder it was built with")
        return cls(width, table, folder)


STORES: dict[str, Any] = {"exact": FlatStore, "ivf": IVFStore, "hnsw": HNSWStore, "lancedb": LanceStore}
