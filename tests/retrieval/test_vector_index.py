"""VectorIndex: exact inner-product search, k clipping, and a save/load round trip that refuses bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from memorag.errors import StoreCorruptError
from memorag.retrieval.index import VectorIndex


def unit_rows(n: int, dimension: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_search_finds_each_vector_itself_first() -> None:
    index = VectorIndex(16)
    vectors = unit_rows(20, 16)
    index.add(vectors)
    scores, ids = index.search(vectors, k=3)
    assert len(index) == 20 and scores.shape == ids.shape == (20, 3)
    assert ids[:, 0].tolist() == list(range(20))
    np.testing.assert_allclose(scores[:, 0], 1.0, rtol=1e-5)
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first


def test_k_is_clipped_and_empty_index_returns_nothing() -> None:
    index = VectorIndex(8)
    scores, ids = index.search(unit_rows(2, 8), k=5)
    assert scores.shape == ids.shape == (2, 0)
    index.add(unit_rows(3, 8))
    assert index.search(unit_rows(2, 8), k=5)[1].shape == (2, 3)
    with pytest.raises(ValueError):
        index.search(unit_rows(1, 8), k=0)


def test_wrong_shapes_are_refused() -> None:
    index = VectorIndex(8)
    with pytest.raises(ValueError, match=r"\(n, 8\)"):
        index.add(np.zeros((2, 7), dtype=np.float32))
    with pytest.raises(ValueError):
        index.search(np.zeros(8, dtype=np.float32), k=1)


def test_save_load_round_trip(tmp_path: Path) -> None:
    index = VectorIndex(12)
    index.add(unit_rows(30, 12))
    path = tmp_path / "störe ü" / "index.faiss"  # non-ASCII directory, created on save
    index.save(path)
    loaded = VectorIndex.load(path, dimension=12)
    queries = unit_rows(4, 12, seed=1)
    assert len(loaded) == 30 and loaded.dimension == 12
    for expected, got in zip(index.search(queries, 5), loaded.search(queries, 5)):
        np.testing.assert_array_equal(expected, got)
    assert [p.name for p in path.parent.iterdir()] == ["index.faiss"]  # no temporary file left


def test_load_refuses_missing_truncated_garbage_and_other_dimension(tmp_path: Path) -> None:
    with pytest.raises(StoreCorruptError, match="missing"):
        VectorIndex.load(tmp_path / "absent.faiss")
    index = VectorIndex(12)
    index.add(unit_rows(30, 12))
    path = tmp_path / "index.faiss"
    index.save(path)
    with pytest.raises(StoreCorruptError, match="384-d"):
        VectorIndex.load(path, dimension=384)
    data = path.read_bytes()
    for broken in (data[: len(data) // 2], data[:3], b"not an index at all" * 10):
        path.write_bytes(broken)
        with pytest.raises(StoreCorruptError, match="truncated or unreadable"):
            VectorIndex.load(path)
