"""Retriever with the hashing fake embedder: build, add, retrieve, blank queries, save and load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from memorag.config import RetrievalConfig
from memorag.errors import StoreCorruptError, StoreNotFoundError
from memorag.retrieval import Retriever, VectorIndex
from memorag.types import Document

CONFIG = RetrievalConfig(chunk_tokens=40, chunk_overlap=8, top_k=2, batch_size=4)
TOPICS = {
    "volcano": "The volcano erupted and lava covered the village. Ash from the volcano fell for days. ",
    "violin": "She tuned the violin before the concert. The violin strings were made of gut. ",
    "harvest": "Farmers brought the wheat harvest into the barn. The harvest was late this year. ",
}


def documents() -> list[Document]:
    return [Document(f"{topic}.txt", text * 6) for topic, text in TOPICS.items()]


@pytest.fixture
def retriever(hashing_embedder: Any) -> Retriever:
    built = Retriever(hashing_embedder, CONFIG)
    built.build(documents())
    return built


def test_build_indexes_every_chunk(retriever: Retriever) -> None:
    assert len(retriever.chunks) == len(retriever.index) > 3
    assert [chunk.chunk_id for chunk in retriever.chunks] == list(range(len(retriever.chunks)))
    assert {chunk.doc_id for chunk in retriever.chunks} == {0, 1, 2}


def test_retrieve_finds_the_topic_in_source_order(retriever: Retriever) -> None:
    passages = retriever.retrieve(["What did the volcano do to the village?", "violin strings"], top_k=2)
    assert {p.chunk.source for p in passages} == {"volcano.txt", "violin.txt"}
    positions = [(p.chunk.doc_id, p.chunk.start) for p in passages]
    assert positions == sorted(positions)
    assert len(passages) <= 4 and all(len(p.queries) >= 1 for p in passages)


def test_blank_queries_never_reach_the_index(retriever: Retriever, hashing_embedder: Any) -> None:
    hashing_embedder.seen.clear()
    assert retriever.retrieve(["", "   ", "\n\t"]) == []
    assert hashing_embedder.seen == []
    passages = retriever.retrieve(["  harvest wheat ", "", "harvest wheat", " "])
    assert hashing_embedder.seen == ["harvest wheat"]  # stripped and deduplicated
    assert passages and all(p.queries == ("harvest wheat",) for p in passages)
    with pytest.raises(TypeError):
        retriever.retrieve("harvest wheat")  # type: ignore[arg-type]


def test_empty_retriever_returns_nothing(hashing_embedder: Any) -> None:
    empty = Retriever(hashing_embedder, CONFIG)
    assert empty.retrieve(["anything"]) == []
    empty.build([Document("blank", "   ")])
    assert empty.retrieve(["anything"]) == [] and len(empty.index) == 0


def test_add_appends_documents_with_new_ids(retriever: Retriever) -> None:
    before = len(retriever.chunks)
    new = retriever.add(
        [Document("tides.txt", "The moon pulls the ocean tides twice a day. " * 5)], first_doc_id=3
    )
    assert [chunk.chunk_id for chunk in new] == list(range(before, before + len(new)))
    assert all(chunk.doc_id == 3 for chunk in new) and len(retriever.index) == len(retriever.chunks)
    assert retriever.retrieve(["ocean tides moon"], top_k=1)[0].chunk.source == "tides.txt"
    with pytest.raises(ValueError, match="first_doc_id"):
        retriever.add([Document("again", "text")], first_doc_id=3)


def test_vectors_embedded_elsewhere_index_as_add_would(hashing_embedder: Any) -> None:
    plain, given = Retriever(hashing_embedder, CONFIG), Retriever(hashing_embedder, CONFIG)
    plain.add(documents(), first_doc_id=0)
    vectors = given.embed(documents())  # what a Ray worker returns; nothing is indexed yet
    assert len(given.chunks) == 0 and vectors.shape == (len(plain.chunks), hashing_embedder.dimension)
    hashing_embedder.seen.clear()
    given.add(documents(), first_doc_id=0, vectors=vectors)
    assert hashing_embedder.seen == [] and given.chunks == plain.chunks
    assert (given.index.vectors() == plain.index.vectors()).all()
    with pytest.raises(ValueError, match="shape"):
        given.add([Document("more.txt", "The moon pulls the tides. " * 5)], first_doc_id=3, vectors=vectors)
    assert given.chunks == plain.chunks  # refused before anything changed


def test_progress_bar_build(hashing_embedder: Any) -> None:
    retriever = Retriever(hashing_embedder, CONFIG)
    retriever.build(documents(), progress=True)
    assert len(retriever.index) == len(retriever.chunks)


def test_chunks_must_fit_the_embedder(hashing_embedder: Any) -> None:
    with pytest.raises(ValueError, match="chunk_tokens"):
        Retriever(hashing_embedder, RetrievalConfig(chunk_tokens=255, chunk_overlap=0))


def test_save_load_round_trip(retriever: Retriever, hashing_embedder: Any, tmp_path: Path) -> None:
    retriever.save(tmp_path / "store")
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == ["chunks.json", "index.faiss", "lexical"]
    loaded = Retriever.load(tmp_path / "store", hashing_embedder, CONFIG)
    assert list(loaded.chunks) == list(retriever.chunks)
    queries = ["lava ash", "wheat barn"]
    assert loaded.retrieve(queries) == retriever.retrieve(queries)


def test_chunks_json_is_utf8_list_of_dicts(hashing_embedder: Any, tmp_path: Path) -> None:
    retriever = Retriever(hashing_embedder, CONFIG)
    retriever.build([Document("größe.txt", "Die Straßenbahn fährt über die Brücke. 我们在北京。")])
    retriever.save(tmp_path)
    items = json.loads((tmp_path / "chunks.json").read_text(encoding="utf-8"))
    assert items[0]["source"] == "größe.txt" and "Straßenbahn" in items[0]["text"]
    assert set(items[0]) == {"chunk_id", "doc_id", "source", "start", "end", "text"}


def test_load_refuses_broken_stores(retriever: Retriever, hashing_embedder: Any, tmp_path: Path) -> None:
    with pytest.raises(StoreNotFoundError):
        Retriever.load(tmp_path / "absent", hashing_embedder, CONFIG)
    retriever.save(tmp_path)
    chunks_file = tmp_path / "chunks.json"
    good = chunks_file.read_text(encoding="utf-8")

    chunks_file.write_text(good[: len(good) // 2], encoding="utf-8")
    with pytest.raises(StoreCorruptError, match="unreadable"):
        Retriever.load(tmp_path, hashing_embedder, CONFIG)

    items = json.loads(good)
    chunks_file.write_text(json.dumps(items[:-1]), encoding="utf-8")
    with pytest.raises(StoreCorruptError, match="vectors but"):
        Retriever.load(tmp_path, hashing_embedder, CONFIG)

    items[0]["end"] += 5
    chunks_file.write_text(json.dumps(items), encoding="utf-8")
    with pytest.raises(StoreCorruptError, match="span"):
        Retriever.load(tmp_path, hashing_embedder, CONFIG)

    chunks_file.unlink()
    with pytest.raises(StoreCorruptError, match="missing"):
        Retriever.load(tmp_path, hashing_embedder, CONFIG)


def test_load_refuses_index_of_another_dimension(
    retriever: Retriever, hashing_embedder: Any, tmp_path: Path
) -> None:
    retriever.save(tmp_path)
    other = VectorIndex(hashing_embedder.dimension * 2)
    other.save(tmp_path / "index.faiss")
    with pytest.raises(StoreCorruptError, match="-d vectors"):
        Retriever.load(tmp_path, hashing_embedder, CONFIG)
