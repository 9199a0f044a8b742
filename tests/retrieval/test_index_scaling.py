"""VectorIndex past exact search: IVF ("auto" from approximate_after on) reaches recall@10 >= 0.95 at 100k clustered
384-d vectors (benchmarks/index_bench.py's corpus), HNSW too at 20k; each saves its parameters in index.json and
loads back to identical results; deletes (select) rebuild from bit-exact kept vectors; LanceDB gives the exact
index's passages through the retriever, in the store's folder, which a later change never touches; stores
written before (index.faiss alone, manifests without the new fields) load as exact; and (slow, real MiniLM) a
LanceDB or IVF store answers as an exact one through memorize, load and delete."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from memorag.config import RetrievalConfig, config_from_dict, config_to_dict
from memorag.errors import StoreChangedError, StoreCorruptError
from memorag.retrieval import Retriever, VectorIndex
from memorag.types import Document

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from index_bench import clustered_corpus, recall_at


def exact_top(queries: np.ndarray, vectors: np.ndarray, k: int = 10) -> np.ndarray:
    import faiss

    return faiss.knn(queries, vectors, k, metric=faiss.METRIC_INNER_PRODUCT)[1]  # (n_queries, k)


def assert_round_trip(index: VectorIndex, queries: np.ndarray, folder: Path) -> VectorIndex:
    """Saved and loaded: the same parameters and bit-identical search results."""
    index.save(folder / "index.faiss")
    loaded = VectorIndex.load(folder / "index.faiss", index.dimension, index.kind, index.approximate_after)
    assert loaded.store == index.store and loaded.params() == index.params()
    assert json.loads((folder / "index.json").read_text()) == index.params()
    for want, got in zip(index.search(queries, 10), loaded.search(queries, 10)):
        np.testing.assert_array_equal(want, got)
    return loaded


def test_auto_index_is_ivf_past_the_threshold_with_recall_at_10_over_095_at_100k(tmp_path: Path) -> None:
    vectors, queries = clustered_corpus(100_000, 500)
    index = VectorIndex(384)  # RetrievalConfig's defaults: auto, approximate_after 50_000
    index.add(vectors[:40_000])
    assert index.store == "exact"
    index.add(vectors[40_000:])  # crosses 50k: the IVF is trained on all 100k
    params = index.params()
    assert index.store == "ivf" and params["nlist"] == round(4 * 100_000**0.5) and params["trained_on"] == 100_000
    assert params["nprobe"] < params["nlist"] // 8  # a real approximation, not a scan of every list
    recall = recall_at(index.search(queries, 10)[1], exact_top(queries, vectors))
    assert recall >= 0.95, f"recall@10 {recall:.3f} at nprobe {params['nprobe']}"
    assert_round_trip(index, queries, tmp_path)


def test_hnsw_recall_and_round_trip(tmp_path: Path) -> None:
    vectors, queries = clustered_corpus(20_000, 300, seed=1)
    index = VectorIndex(384, "hnsw")
    index.add(vectors)
    assert index.store == "hnsw" and index.params()["M"] == 32
    recall = recall_at(index.search(queries, 10)[1], exact_top(queries, vectors))
    assert recall >= 0.95, f"recall@10 {recall:.3f} at efSearch {index.params()['ef_search']}"
    loaded = assert_round_trip(index, queries, tmp_path)
    kept = np.arange(0, 20_000, 3)
    subset = loaded.select(kept)  # the graph rebuilt from the kept vectors
    assert subset.store == "hnsw" and len(subset) == len(kept)
    np.testing.assert_array_equal(subset.vectors(), vectors[kept])


def test_select_keeps_ivf_centroids_while_the_size_suits_them_and_falls_back_to_exact(tmp_path: Path) -> None:
    vectors, queries = clustered_corpus(4000, 50, seed=2)
    index = VectorIndex(384, "auto", approximate_after=3000)
    index.add(vectors)
    assert index.store == "ivf" and index.params()["nlist"] == 4000 // 39
    kept = np.flatnonzero(np.arange(4000) % 8 != 0)  # 3,500 stay: still past the threshold
    subset = index.select(kept)
    assert subset.store == "ivf" and subset.params()["trained_on"] == 4000  # same centroids, no k-means
    np.testing.assert_array_equal(subset.vectors(), vectors[kept])  # bit-exact, in the order asked
    scores, ids = subset.search(vectors[kept[:20]], 1)
    assert ids[:, 0].tolist() == list(range(20)) and np.allclose(scores[:, 0], 1.0, atol=1e-5)
    assert_round_trip(subset, queries, tmp_path)
    small = subset.select(range(1000))  # below the threshold: exact again
    assert small.store == "exact" and small.params() == {}
    small.save(tmp_path / "index.faiss")
    assert not (tmp_path / "index.json").exists()  # an exact index is index.faiss alone, as before
    with pytest.raises(ValueError, match="ids must lie"):
        subset.select([3500])


def test_ivf_retrains_when_the_vectors_outgrow_its_centroids() -> None:
    vectors, _ = clustered_corpus(3000, 1, seed=3)
    index = VectorIndex(384, "ivf")
    index.add(vectors[:200])
    assert index.params()["trained_on"] == 200 and index.params()["nlist"] == 200 // 39
    index.add(vectors[200:600])  # 3x: appended to the same lists
    assert index.params()["trained_on"] == 200
    index.add(vectors[600:])  # 15x: k-means again over all 3,000
    assert index.params()["trained_on"] == 3000 and index.params()["nlist"] == 3000 // 39
    np.testing.assert_array_equal(index.vectors(), vectors)


def test_parameters_file_is_checked_on_load(tmp_path: Path) -> None:
    vectors, _ = clustered_corpus(500, 1, seed=4)
    index = VectorIndex(384, "ivf")
    index.add(vectors)
    path = tmp_path / "index.faiss"
    index.save(path)
    params = json.loads((tmp_path / "index.json").read_text())
    (tmp_path / "index.json").write_text(json.dumps({**params, "count": 499}))
    with pytest.raises(StoreCorruptError, match="records 499"):
        VectorIndex.load(path, 384)
    (tmp_path / "index.json").write_text("{not json")
    with pytest.raises(StoreCorruptError, match="unreadable"):
        VectorIndex.load(path, 384)
    (tmp_path / "index.json").write_text(json.dumps({**params, "kind": "annoy"}))
    with pytest.raises(StoreCorruptError, match="known kind"):
        VectorIndex.load(path, 384)
    (tmp_path / "index.json").unlink()  # an IVF file read as an old exact store
    with pytest.raises(StoreCorruptError, match="IndexIVFFlat, not an IndexFlatIP"):
        VectorIndex.load(path, 384)


# ----- through the retriever: LanceDB, IVF, and stores written before ---------------------------------------
CONFIG = RetrievalConfig(chunk_tokens=16, chunk_overlap=4, top_k=3, batch_size=4, retriever="dense")
TEXTS = {
    "volcano.txt": "The volcano erupted at dawn and lava covered the village. Ash from the crater fell for days on "
    "the fields. Geologists measured the sulfur in the air. A second eruption split the northern flank. ",
    "violin.txt": "She tuned the violin before the concert. The strings were made of gut and the bow of horsehair. "
    "Her teacher had played in Vienna for thirty years. The critics praised her vibrato. ",
    "harvest.txt": "Farmers brought the wheat harvest into the barn. Rain in August made the grain late this year. "
    "The miller ground flour for the bakery in town. Prices at the market rose in October. ",
    "tides.txt": "The moon pulls the ocean tides twice a day. Sailors read the tide tables before leaving the "
    "harbour. Spring tides come with the full and the new moon. Crabs hide under rocks when the water falls. ",
}
QUESTIONS = ["lava village", "violin strings gut", "wheat harvest barn", "moon ocean tide", "sailors harbour"]


def built(embedder: Any, index: str) -> Retriever:
    retriever = Retriever(embedder, RetrievalConfig(**{**config_to_dict(CONFIG), "index": index}))
    retriever.build([Document(source, text) for source, text in TEXTS.items()])
    return retriever


def ranking(retriever: Retriever) -> list[list[set[int]]]:
    """Each question's chunks sharing a word with it, best first, as groups of equal score (the hashing embedder
    ties often, and tied chunks come in any order)."""
    rankings = []
    for _, ranked in retriever.search(QUESTIONS, len(retriever.chunks)):
        groups: list[tuple[float, set[int]]] = []
        for chunk_id, score in ranked:
            if score <= 1e-6:
                break  # no word shared: cosine 0
            if groups and abs(groups[-1][0] - score) < 1e-5:
                groups[-1][1].add(chunk_id)
            else:
                groups.append((score, {chunk_id}))
        assert groups
        rankings.append([ids for _, ids in groups])
    return rankings


def assert_same_passages(got: Retriever, want: Retriever) -> None:
    assert ranking(got) == ranking(want)


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_lancedb_index_gives_the_exact_passages_and_round_trips(tmp_path: Path, hashing_embedder: Any) -> None:
    exact, lance = built(hashing_embedder, "exact"), built(hashing_embedder, "lancedb")
    assert lance.index.store == "lancedb" and len(lance.index) == len(exact.index)
    assert_same_passages(lance, exact)
    lance.save(tmp_path / "rev1")
    assert (tmp_path / "rev1" / "index.lancedb").is_dir() and not (tmp_path / "rev1" / "index.faiss").exists()
    assert json.loads((tmp_path / "rev1" / "index.json").read_text())["kind"] == "lancedb"
    saved = tree(tmp_path / "rev1")
    loaded = Retriever.load(tmp_path / "rev1", hashing_embedder, lance.config)
    assert_same_passages(loaded, exact)
    np.testing.assert_array_equal(loaded.index.vectors(), exact.index.vectors())
    # a delete and an append work on a copy: the revision it was read from stays byte for byte as written
    assert loaded.remove_documents([1]) == exact.remove_documents([1])
    assert_same_passages(loaded, exact)
    more = [Document("fox.txt", "The quick brown fox jumps over the lazy dog near the river bank at dusk. ")]
    loaded.add(more, first_doc_id=3)
    exact.add(more, first_doc_id=3)
    assert_same_passages(loaded, exact)
    assert tree(tmp_path / "rev1") == saved
    loaded.save(tmp_path / "rev2")
    assert_same_passages(Retriever.load(tmp_path / "rev2", hashing_embedder, lance.config), exact)


def test_lancedb_revision_removed_under_a_reader_says_load_again(tmp_path: Path, hashing_embedder: Any) -> None:
    built(hashing_embedder, "lancedb").save(tmp_path / "rev")
    loaded = Retriever.load(tmp_path / "rev", hashing_embedder, CONFIG)
    shutil.rmtree(tmp_path / "rev")  # a newer write of the store removed this revision's folder
    with pytest.raises(StoreChangedError, match="load the store again"):
        loaded.search(["lava"], 3)


def test_ivf_retriever_round_trip_and_delete(tmp_path: Path, hashing_embedder: Any) -> None:
    exact, ivf = built(hashing_embedder, "exact"), built(hashing_embedder, "ivf")
    assert ivf.index.store == "ivf"  # a handful of chunks: one list, so every search is exact
    assert_same_passages(ivf, exact)
    ivf.save(tmp_path)
    loaded = Retriever.load(tmp_path, hashing_embedder, ivf.config)
    assert loaded.index.params() == ivf.index.params()
    loaded.remove_documents([0, 2])
    exact.remove_documents([0, 2])
    assert_same_passages(loaded, exact)


def test_stores_written_before_load_with_an_exact_index(tmp_path: Path, hashing_embedder: Any) -> None:
    old_manifest = {k: v for k, v in config_to_dict(CONFIG).items() if k not in ("index", "approximate_after")}
    config = config_from_dict(RetrievalConfig, old_manifest)
    assert (config.index, config.approximate_after) == ("auto", 50_000)
    exact = built(hashing_embedder, "exact")
    exact.save(tmp_path)
    assert sorted(p.name for p in tmp_path.glob("index*")) == ["index.faiss"]  # what older versions wrote
    loaded = Retriever.load(tmp_path, hashing_embedder, config)
    assert loaded.index.store == "exact"
    assert_same_passages(loaded, exact)
    with pytest.raises(ValueError, match="index must be one of"):
        RetrievalConfig(index="qdrant")


@pytest.mark.slow
@pytest.mark.parametrize("index", ["lancedb", "ivf"])
def test_a_store_with_another_index_answers_as_an_exact_one_through_write_load_and_delete(
    tmp_path: Path, index: str
) -> None:
    """On the real MiniLM, through the store's own writes (a data folder staged, then renamed into place; a
    delete's new revision): the index lives in the data folder and comes back with it."""
    from memorag.config import MemoryConfig
    from memorag.pipeline import MemoRAG

    def pipeline(kind: str) -> MemoRAG:
        return MemoRAG(MemoryConfig(kind="none"), RetrievalConfig(chunk_tokens=24, chunk_overlap=4, index=kind))

    def evidence(rag: MemoRAG, question: str) -> list[tuple[str, float]]:
        return [(p.text, p.score) for p in rag.ask(question, mode="rag", top_k=3, max_new_tokens=0).evidence]

    path = tmp_path / "store"
    pipeline(index).memorize(list(TEXTS.values()), store=path)
    exact = pipeline("exact")
    exact.memorize(list(TEXTS.values()))
    loaded = MemoRAG.load(path)
    folder = next(path.glob("data-*"))
    assert loaded.retriever.index.store == index and (folder / "index.json").is_file()
    for question in QUESTIONS:
        got, want = evidence(loaded, question), evidence(exact, question)
        assert [text for text, _ in got] == [text for text, _ in want]
        assert [score for _, score in got] == pytest.approx([score for _, score in want], abs=1e-5)
    loaded.delete(loaded.documents[1].source, store=path)
    after = MemoRAG.load(path)
    assert not folder.exists() and after.retriever.index.store == index  # the old revision went whole
    assert len(after.retriever.index) == len(after.retriever.chunks) == len(loaded.retriever.chunks)
    assert "violin" not in " ".join(text for text, _ in evidence(after, "violin strings gut"))
