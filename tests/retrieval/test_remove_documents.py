"""Retriever.remove_documents: the result equals a retriever built on the remaining documents (chunks, dense,
bm25 and hybrid scores, pool, save and load), without embedding again; the hashing fake embedder, and marked slow
the real MiniLM one."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from memorag.config import RETRIEVERS, RetrievalConfig
from memorag.retrieval import Retriever, VectorIndex, make_embedder
from memorag.retrieval.retriever import renumber_chunks
from memorag.types import Chunk, Document

CONFIG = RetrievalConfig(chunk_tokens=40, chunk_overlap=8, top_k=3, batch_size=4)
TEXTS = {
    "volcano.txt": (
        "The volcano erupted at dawn and lava covered the village. Ash from the crater fell for days on the "
        "fields. Geologists measured the sulfur in the air. The island's farmers left their goats behind. "
        "A second eruption split the northern flank. Pilots rerouted their planes around the plume. "
    ),
    "violin.txt": (
        "She tuned the violin before the concert. The strings were made of gut and the bow of horsehair. "
        "Her teacher had played in Vienna for thirty years. The hall was cold and the audience coughed. "
        "After the sonata the orchestra played a symphony by Dvorak. The critics praised her vibrato. "
    ),
    "harvest.txt": (
        "Farmers brought the wheat harvest into the barn. Rain in August made the grain late this year. "
        "The miller ground flour for the bakery in town. Children gathered apples from the orchard. "
        "A tractor broke down in the barley field near the river. Prices at the market rose in October. "
    ),
    "tides.txt": (
        "The moon pulls the ocean tides twice a day. Sailors read the tide tables before leaving the harbour. "
        "Spring tides come with the full and the new moon. Crabs hide under rocks when the water falls. "
    ),
}
QUESTIONS = [
    "What did the lava do to the village?",
    "violin strings gut",
    "wheat harvest barn",
    "moon ocean tide",
]


def documents(sources: list[str] | None = None) -> list[Document]:
    return [Document(source, TEXTS[source]) for source in sources or list(TEXTS)]


def build(embedder: Any, docs: list[Document], config: RetrievalConfig = CONFIG) -> Retriever:
    built = Retriever(embedder, config)
    built.build(docs)
    return built


def assert_same_retrieval(got: Retriever, want: Retriever, questions: list[str] = QUESTIONS) -> None:
    """Same chunks, vectors, rankings and scores (dense, bm25, hybrid), retrieve and pool as `want`."""
    assert list(got.chunks) == list(want.chunks)
    assert len(got.index) == len(want.index) == len(got.lexical) == len(want.lexical) == len(want.chunks)
    for method in RETRIEVERS:
        got_hits, want_hits = (
            got.search(questions, top_k=4, retriever=method),
            want.search(questions, 4, method),
        )
        assert [query for query, _ in got_hits] == [query for query, _ in want_hits]
        for (_, got_ranked), (_, want_ranked) in zip(got_hits, want_hits):
            assert [cid for cid, _ in got_ranked] == [cid for cid, _ in want_ranked], method
            np.testing.assert_allclose([s for _, s in got_ranked], [s for _, s in want_ranked], atol=1e-5)
        assert_same_passages(
            got.retrieve(questions, retriever=method), want.retrieve(questions, retriever=method)
        )
        got_pool = got.pool(questions[0], questions[1:], size=3, clue_hits=2, retriever=method)
        assert_same_passages(got_pool, want.pool(questions[0], questions[1:], 3, 2, method))


def assert_same_passages(got: list[Any], want: list[Any]) -> None:
    assert [(p.chunk, p.queries) for p in got] == [(p.chunk, p.queries) for p in want]
    np.testing.assert_allclose([p.score for p in got], [p.score for p in want], atol=1e-5)


@pytest.mark.parametrize("removed", [{1}, {0}, {3}, {0, 2}, [2, 1, 2]])
def test_removing_documents_equals_building_without_them(hashing_embedder: Any, removed: Any) -> None:
    retriever = build(hashing_embedder, documents())
    gone = {chunk.chunk_id for chunk in retriever.chunks if chunk.doc_id in set(removed)}
    hashing_embedder.seen.clear()
    assert retriever.remove_documents(removed) == len(gone) > 0
    assert hashing_embedder.seen == []  # the remaining vectors were kept, not embedded again
    remaining = [doc for position, doc in enumerate(documents()) if position not in set(removed)]
    assert_same_retrieval(retriever, build(hashing_embedder, remaining))


def test_remaining_chunks_keep_their_exact_dense_scores(hashing_embedder: Any) -> None:
    retriever = build(hashing_embedder, documents())

    def scores_by_span() -> dict[tuple[str, int], float]:  # every chunk's cosine with the first question
        scores, ids = retriever.index.search(hashing_embedder.embed(QUESTIONS[:1]), len(retriever.index))
        spans = [(retriever.chunks[cid].source, retriever.chunks[cid].start) for cid in ids[0].tolist()]
        return dict(zip(spans, scores[0].tolist()))

    before = scores_by_span()
    retriever.remove_documents([1])
    after = scores_by_span()
    assert after == {span: score for span, score in before.items() if span[0] != "violin.txt"}


def test_save_and_load_after_removal(hashing_embedder: Any, tmp_path: Path) -> None:
    retriever = build(hashing_embedder, documents())
    retriever.save(tmp_path / "before")
    retriever.remove_documents({1})
    retriever.save(tmp_path / "before")  # over the store it was saved in before the removal
    loaded = Retriever.load(tmp_path / "before", hashing_embedder, CONFIG)
    reference = build(hashing_embedder, documents(["volcano.txt", "harvest.txt", "tides.txt"]))
    reference.save(tmp_path / "reference")
    assert_same_retrieval(loaded, Retriever.load(tmp_path / "reference", hashing_embedder, CONFIG))
    assert_same_retrieval(loaded, reference)
    assert (tmp_path / "before" / "chunks.json").read_text() == (
        tmp_path / "reference" / "chunks.json"
    ).read_text()


def test_add_after_removal_numbers_on_from_the_remaining_documents(
    hashing_embedder: Any, tmp_path: Path
) -> None:
    retriever = build(hashing_embedder, documents(["volcano.txt", "violin.txt", "harvest.txt"]))
    retriever.remove_documents({0})
    retriever.add(documents(["tides.txt"]), first_doc_id=2)
    assert_same_retrieval(
        retriever, build(hashing_embedder, documents(["violin.txt", "harvest.txt", "tides.txt"]))
    )
    retriever.save(tmp_path)
    loaded = Retriever.load(tmp_path, hashing_embedder, CONFIG)
    assert loaded.remove_documents({2}) > 0  # the loaded retriever knows doc ids 0..2
    assert_same_retrieval(loaded, build(hashing_embedder, documents(["violin.txt", "harvest.txt"])))


def test_a_document_without_chunks_is_removed_and_shifts_the_rest(hashing_embedder: Any) -> None:
    docs = [
        Document("blank.txt", "   \n "),
        *documents(["volcano.txt"]),
        Document("empty.txt", ""),
        *documents(["tides.txt"]),
    ]
    retriever = build(hashing_embedder, docs)
    assert {chunk.doc_id for chunk in retriever.chunks} == {1, 3}
    assert retriever.remove_documents({0, 2}) == 0
    assert_same_retrieval(retriever, build(hashing_embedder, documents(["volcano.txt", "tides.txt"])))


def test_removing_nothing_changes_nothing(hashing_embedder: Any) -> None:
    retriever = build(hashing_embedder, documents())
    chunks, index, lexical = list(retriever.chunks), retriever.index, retriever.lexical
    assert retriever.remove_documents(set()) == 0 and retriever.remove_documents([]) == 0
    assert list(retriever.chunks) == chunks and retriever.index is index and retriever.lexical is lexical
    assert Retriever(hashing_embedder, CONFIG).remove_documents(()) == 0


@pytest.mark.parametrize("method", RETRIEVERS)
def test_removing_every_document_leaves_an_empty_retriever(
    hashing_embedder: Any, method: str, tmp_path: Path
) -> None:
    retriever = build(hashing_embedder, documents(), replace(CONFIG, retriever=method))
    total = len(retriever.chunks)
    assert retriever.remove_documents(range(len(TEXTS))) == total
    assert len(retriever.chunks) == len(retriever.index) == len(retriever.lexical) == 0
    assert retriever.search(QUESTIONS, top_k=3) == [] and retriever.retrieve(QUESTIONS) == []
    assert retriever.pool(QUESTIONS[0], QUESTIONS[1:], size=3, clue_hits=2) == []
    retriever.save(tmp_path)
    loaded = Retriever.load(tmp_path, hashing_embedder, replace(CONFIG, retriever=method))
    assert list(loaded.chunks) == [] and loaded.search(QUESTIONS, top_k=3) == []
    with pytest.raises(ValueError, match="not indexed"):
        retriever.remove_documents({0})
    retriever.add(documents(["tides.txt"]), first_doc_id=0)
    assert_same_retrieval(retriever, build(hashing_embedder, documents(["tides.txt"]), retriever.config))


@pytest.mark.parametrize("removed", [{4}, {-1}, {1, 9}])
def test_an_unknown_doc_id_is_refused_and_nothing_changes(hashing_embedder: Any, removed: set[int]) -> None:
    retriever = build(hashing_embedder, documents())
    chunks, index = list(retriever.chunks), retriever.index
    with pytest.raises(ValueError, match=f"doc id {min(removed - {1})} is not indexed"):
        retriever.remove_documents(removed)
    assert list(retriever.chunks) == chunks and retriever.index is index
    with pytest.raises(TypeError):
        retriever.remove_documents([1.0])  # type: ignore[list-item]


def test_renumber_chunks_shifts_doc_ids_past_each_removed_one() -> None:
    chunks = [Chunk(i, doc, f"d{doc}", 0, 1, "x") for i, doc in enumerate([0, 0, 2, 3, 3, 5])]
    assert [(c.chunk_id, c.doc_id) for c in renumber_chunks(chunks, {1, 3})] == [
        (0, 0),
        (1, 0),
        (2, 1),
        (3, 3),
    ]
    assert renumber_chunks(chunks, set()) == chunks and renumber_chunks(chunks, range(6)) == []


def test_vector_index_select_copies_rows_exactly() -> None:
    vectors = np.random.default_rng(0).standard_normal((6, 8)).astype(np.float32)  # (n, dimension)
    index = VectorIndex(8)
    index.add(vectors)
    subset, picked = index.select([4, 1, 5]), [4, 1, 5]
    assert (len(subset), len(index)) == (3, 6)
    scores, ids = index.search(vectors[:2], 6)  # (2, 6) each
    subset_scores, subset_ids = subset.search(vectors[:2], 3)
    for row in range(2):
        full = dict(zip(ids[row].tolist(), scores[row].tolist()))
        assert {picked[j]: s for j, s in zip(subset_ids[row].tolist(), subset_scores[row].tolist())} == {
            i: full[i] for i in picked
        }
    assert len(index.select([])) == 0
    with pytest.raises(ValueError, match="ids must lie"):
        index.select([6])


@pytest.mark.slow
def test_minilm_removal_equals_building_without_the_document(tmp_path: Path) -> None:
    embedder = make_embedder("minilm", batch_size=4)
    config = replace(CONFIG, chunk_tokens=48)
    retriever = build(embedder, documents(), config)
    assert retriever.remove_documents({1}) > 0
    reference = build(embedder, documents(["volcano.txt", "harvest.txt", "tides.txt"]), config)
    assert_same_retrieval(retriever, reference)
    retriever.save(tmp_path)
    assert_same_retrieval(Retriever.load(tmp_path, embedder, config), reference)
