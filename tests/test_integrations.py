"""LangChain's and LlamaIndex's retrievers over a memorag store (memorag.integrations), on the real embedded models
and the real libraries: the passages, in the order, that `ask(question, mode, max_new_tokens=0).evidence` holds,
with source, offsets, page, chunk id and score; through a LangChain runnable chain and a LlamaIndex query engine
that writes no text (no LLM runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from memorag.config import MemoryConfig, RetrievalConfig
from memorag.pipeline import MemoRAG

pytestmark = pytest.mark.slow

QUESTION = "When was the lighthouse roof painted red?"
PARAGRAPHS = [
    "The lighthouse at Kessock stands on a rock at the mouth of the firth and was built of grey granite in 1850.",
    "The keepers painted the roof of the lighthouse bright red in 1910, and it has stayed red ever since.",
    "Visitors climb its spiral stair of ninety steps to the lamp room, where the lens turns every ten seconds.",
    "The ferry across the firth ran from the harbour below the lighthouse until the bridge opened in 1982.",
    "A small museum beside the lighthouse tells the story of the ships wrecked on the rocks in winter storms.",
    "Kessock village has a harbour, two inns and a church with a tall stone tower beside the lighthouse road.",
]
METADATA = {"source", "start", "end", "page", "chunk_id", "doc_id", "score"}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("integrations") / "store"
    writer = MemoRAG(MemoryConfig(kind="none"), RetrievalConfig(chunk_tokens=40, chunk_overlap=0))
    writer.memorize("\n\n".join(PARAGRAPHS), store=path)
    return path


@pytest.fixture(scope="module")
def rag(store: Path) -> MemoRAG:
    return MemoRAG.load(store)


def evidence(rag: MemoRAG, mode: str) -> list[tuple[int, str, str, int, int, float]]:
    """ask's evidence, each passage with the score it was ranked by: the judge's in memorag mode."""
    passages = rag.ask(QUESTION, mode=mode, top_k=3, max_new_tokens=0).evidence
    assert len(passages) == 3 and all((p.judge_score is not None) == (mode == "memorag") for p in passages)
    return [(p.chunk.chunk_id, p.text, p.source, p.chunk.start, p.chunk.end,
             p.score if p.judge_score is None else p.judge_score) for p in passages]


def described(text: str, metadata: dict[str, Any]) -> tuple[int, str, str, int, int, float]:
    assert set(metadata) == METADATA and metadata["page"] is None  # plain text has no pages
    return metadata["chunk_id"], text, metadata["source"], metadata["start"], metadata["end"], metadata["score"]


@pytest.mark.parametrize("mode", ["rag", "memorag"])
def test_langchain_retriever_hands_over_asks_evidence_and_runs_in_a_chain(rag: MemoRAG, mode: str) -> None:
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.runnables import RunnableLambda

    from memorag.integrations.langchain import MemoRAGRetriever

    retriever = MemoRAGRetriever(pipeline=rag, mode=mode, top_k=3)
    assert isinstance(retriever, BaseRetriever)
    documents = retriever.invoke(QUESTION)
    assert all(isinstance(document, Document) for document in documents)
    want = evidence(rag, mode)
    assert [described(d.page_content, d.metadata) for d in documents] == want

    def cite(found: list[Document]) -> str:
        return "\n".join(f"[{i}] {d.page_content} ({d.metadata['source']})" for i, d in enumerate(found, 1))

    prompt = (retriever | RunnableLambda(cite)).invoke(QUESTION)
    assert prompt == "\n".join(f"[{i}] {w[1]} ({w[2]})" for i, w in enumerate(want, 1))


@pytest.mark.parametrize("mode", ["rag", "memorag"])
def test_llamaindex_retriever_hands_over_asks_evidence_and_serves_a_query_engine(rag: MemoRAG, mode: str) -> None:
    from llama_index.core.llms import MockLLM
    from llama_index.core.query_engine import RetrieverQueryEngine
    from llama_index.core.response_synthesizers.no_text import NoText
    from llama_index.core.schema import MetadataMode, NodeWithScore, TextNode

    from memorag.integrations.llamaindex import MemoRAGRetriever

    retriever = MemoRAGRetriever(pipeline=rag, mode=mode, top_k=3)
    found = retriever.retrieve(QUESTION)
    want = evidence(rag, mode)
    assert all(isinstance(hit, NodeWithScore) and isinstance(hit.node, TextNode) for hit in found)
    assert [described(hit.node.text, hit.node.metadata) for hit in found] == want
    assert [hit.score for hit in found] == [hit.node.metadata["score"] for hit in found]
    assert "chunk_id" not in found[0].node.get_content(MetadataMode.LLM)  # an LLM reads source, page, text

    # no_text: the engine retrieves and writes nothing (MockLLM, LlamaIndex's own, is never asked)
    engine = RetrieverQueryEngine(retriever=retriever, response_synthesizer=NoText(llm=MockLLM()))
    response = engine.query(QUESTION)
    assert response.response in ("", None)
    assert [described(hit.node.text, hit.node.metadata) for hit in response.source_nodes] == want


def test_retrievers_open_a_store_path_and_refuse_bad_arguments(store: Path, rag: MemoRAG) -> None:
    from memorag.integrations import langchain, llamaindex

    want = evidence(rag, "rag")
    chain_retriever = langchain.MemoRAGRetriever(store=str(store), mode="rag", top_k=3)
    assert [described(d.page_content, d.metadata) for d in chain_retriever.invoke(QUESTION)] == want
    index_retriever = llamaindex.MemoRAGRetriever(store=store, top_k=3)
    assert [described(h.node.text, h.node.metadata) for h in index_retriever.retrieve(QUESTION)] == want
    for make in (langchain.MemoRAGRetriever, llamaindex.MemoRAGRetriever):
        with pytest.raises(ValueError, match="mode must be one of"):
            make(pipeline=rag, mode="full")
        with pytest.raises(ValueError, match="either store=PATH"):
            make(mode="rag")
        with pytest.raises(ValueError, match="top_k"):
            make(pipeline=rag, top_k=0)

