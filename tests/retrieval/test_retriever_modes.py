"""RetrievalConfig.retriever through Retriever: dense, bm25 and hybrid rankings, their budget, save and load."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from memorag.config import RETRIEVERS, RetrievalConfig
from memorag.retrieval import Retriever
from memorag.retrieval.evidence import fuse_rankings
from memorag.types import Document

CONFIG = RetrievalConfig(chunk_tokens=40, chunk_overlap=8, top_k=3, batch_size=4)
TOPICS = {
    "volcano": "The volcano erupted and lava covered the village. Ash from the volcano fell for days. ",
    "violin": "She tuned the violin before the concert. The violin strings were made of gut. ",
    "harvest": "Farmers brought the wheat harvest into the barn. The harvest was late this year. ",
}
CHINESE = {
    "great-wall.txt": "长城是中国古代的军事防御工程，东起山海关，西至嘉峪关，全长两万多公里。",
    "beijing.txt": "北京是中华人民共和国的首都，也是全国的政治和文化中心。",
    "tea.txt": "绿茶是中国产量最多的茶类，龙井和碧螺春都很有名。",
}


def build(embedder: Any, retriever: str, documents: list[Document] | None = None) -> Retriever:
    built = Retriever(embedder, replace(CONFIG, retriever=retriever))
    built.build(documents or [Document(f"{topic}.txt", text * 6) for topic, text in TOPICS.items()])
    return built


@pytest.mark.parametrize("retriever", RETRIEVERS)
def test_every_retriever_returns_exactly_top_k(hashing_embedder: Any, retriever: str) -> None:
    built = build(hashing_embedder, retriever)
    for top_k in (1, 3, 5):
        passages = built.retrieve(["Was the violin concert before the harvest or the volcano?"], top_k=top_k)
        assert len(passages) == top_k
    [(_, hits)] = built.search(["violin strings"], top_k=3)
    assert len(hits) == 3 and "violin" in built.chunks[hits[0][0]].text
    assert [score for _, score in hits] == sorted((score for _, score in hits), reverse=True)


def test_bm25_hits_share_a_word_with_the_query_and_hybrid_fills_the_budget(hashing_embedder: Any) -> None:
    question = ["Which strings were made of gut?"]  # only the 3 violin chunks hold one of its words
    passages = build(hashing_embedder, "bm25").retrieve(question, top_k=5)
    assert len(passages) == 3 and {p.chunk.source for p in passages} == {"violin.txt"}
    assert len(build(hashing_embedder, "hybrid").retrieve(question, top_k=5)) == 5


def test_a_chinese_query_finds_the_chinese_passage_with_its_words(hashing_embedder: Any) -> None:
    documents = [Document(source, text) for source, text in CHINESE.items()]
    [passage] = build(hashing_embedder, "bm25", documents).retrieve(["长城全长多少公里？"], top_k=1)
    assert passage.chunk.source == "great-wall.txt"


@pytest.mark.parametrize("query", ["", "?!", "……"])
def test_bm25_query_without_words_gives_no_error_and_no_hits(hashing_embedder: Any, query: str) -> None:
    built = build(hashing_embedder, "bm25")
    assert built.retrieve([query]) == []
    assert built.search([query], top_k=2) == ([(query, [])] if query else [])  # blank ones are dropped first


def test_hybrid_with_no_bm25_weight_ranks_as_dense(hashing_embedder: Any) -> None:
    dense = build(hashing_embedder, "dense")
    hybrid = Retriever(hashing_embedder, replace(CONFIG, retriever="hybrid", bm25_weight=0.0))
    hybrid.build([Document(f"{topic}.txt", text * 6) for topic, text in TOPICS.items()])
    queries = ["lava and ash", "the wheat barn"]
    ranked = [[cid for cid, _ in hits] for _, hits in hybrid.search(queries, top_k=4)]
    assert ranked == [[cid for cid, _ in hits] for _, hits in dense.search(queries, top_k=4)]


def test_fuse_rankings_weights_each_ranking() -> None:
    dense, lexical = [(1, 0.9), (2, 0.8), (3, 0.1)], [(3, 7.0), (4, 5.0)]
    # 3: 1/(1+3) + 1/(1+1); 1: 1/2; 2 and 4: 1/3 each, the tie to 2, which the earlier ranking holds
    assert fuse_rankings([dense, lexical], [1.0, 1.0], top_k=4, rrf_k=1) == [
        (3, pytest.approx(0.75)),
        (1, pytest.approx(0.5)),
        (2, pytest.approx(1 / 3)),
        (4, pytest.approx(1 / 3)),
    ]
    assert [cid for cid, _ in fuse_rankings([dense, lexical], [1.0, 3.0], top_k=2, rrf_k=1)] == [3, 4]
    with pytest.raises(ValueError, match="weights"):
        fuse_rankings([dense, lexical], [1.0], top_k=2)


def test_add_rebuilds_the_lexical_index(hashing_embedder: Any) -> None:
    built = build(hashing_embedder, "bm25")
    built.add([Document("tides.txt", "The moon pulls the ocean tides twice a day. " * 5)], first_doc_id=3)
    assert len(built.lexical) == len(built.chunks)
    assert built.retrieve(["ocean tides"], top_k=1)[0].chunk.source == "tides.txt"


def test_a_store_from_before_the_lexical_index_loads_and_builds_it(
    hashing_embedder: Any, tmp_path: Path
) -> None:
    built = build(hashing_embedder, "hybrid")
    built.save(tmp_path)
    queries = ["lava village", "wheat harvest"]
    assert Retriever.load(tmp_path, hashing_embedder, built.config).retrieve(queries) == built.retrieve(
        queries
    )
    shutil.rmtree(tmp_path / "lexical")  # what a store written before it holds: index.faiss and chunks.json
    old = Retriever.load(tmp_path, hashing_embedder, built.config)
    assert len(old.lexical) == len(old.chunks) and old.retrieve(queries) == built.retrieve(queries)
    old.save(tmp_path)
    assert (tmp_path / "lexical" / "tokens.json").is_file()


def test_config_refuses_unknown_retrievers_and_negative_weights() -> None:
    assert RetrievalConfig().retriever == "hybrid"  # the default, chosen on the train halves
    with pytest.raises(ValueError, match="retriever"):
        RetrievalConfig(retriever="sparse")
    with pytest.raises(ValueError, match="bm25_weight"):
        RetrievalConfig(bm25_weight=-1.0)


def test_judge_pool_holds_the_questions_top_hits_then_each_clues_from_both_indexes(hashing_embedder: Any) -> None:
    built = build(hashing_embedder, "dense")
    question = "What erupted over the village?"
    own = [cid for cid, _ in built.search([question], 4)[0][1]]
    pool = built.pool(question, ["violin strings gut", question, "  "], size=4, clue_hits=2)
    ids = [p.chunk.chunk_id for p in pool]
    assert ids[:4] == own  # the question's ranking first, in its order
    assert len(ids) == len(set(ids))  # each chunk once
    dense = [cid for cid, _ in built.search(["violin strings gut"], 2, "dense")[0][1]]
    lexical = [cid for cid, _ in built.search(["violin strings gut"], 2, "bm25")[0][1]]
    assert set(dense) | set(lexical) <= set(ids)  # the clue's hits from both indexes widen the pool
    for passage in pool:
        assert passage.queries and set(passage.queries) <= {question, "violin strings gut"}
        if passage.chunk.chunk_id in dense and passage.chunk.chunk_id not in own:
            assert passage.queries == ("violin strings gut",)
    assert [p.chunk.chunk_id for p in built.pool(question, [], size=4, clue_hits=2)] == own
    assert [p.chunk.chunk_id for p in built.pool(question, ["violin"], size=4, clue_hits=0)] == own
