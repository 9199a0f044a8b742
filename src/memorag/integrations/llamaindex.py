"""A LlamaIndex retriever over a memorag store: `MemoRAGRetriever(store="stores/book", mode="rag", top_k=3)`.

Needs llama-index-core (`pip install "memorag[llamaindex]"`). Each question's passages are memorag's own
evidence (`MemoRAG.ask(..., max_new_tokens=0).evidence`, in its order) as `NodeWithScore`s of `TextNode`s whose
metadata holds source, start, end, page, chunk_id, doc_id and score; an LLM reading the nodes sees source and
page only. Plugs into `RetrieverQueryEngine(retriever=..., response_synthesizer=...)` like any retriever.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memorag.integrations.evidence import check_mode, evidence, open_pipeline, passage_metadata, passage_score

try:
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"memorag.integrations.llamaindex needs llama-index-core ({exc}): run `pip install \"memorag[llamaindex]\"`"
    ) from exc

HIDDEN_FROM_MODELS = ["start", "end", "chunk_id", "doc_id", "score"]  # kept in metadata, not in prompts/embeddings


class MemoRAGRetriever(BaseRetriever):
    """`store` (a memorag store path) or `pipeline` (a MemoRAG already loaded); `mode` "rag" (the question's
    top_k chunks) or "memorag" (clues and the judge, as `ask` does); `top_k` passages per question. Other
    keyword arguments go to LlamaIndex's BaseRetriever (callback_manager, verbose)."""

    def __init__(
        self, store: str | Path | None = None, mode: str = "rag", top_k: int = 3, pipeline: Any = None,
        **kwargs: Any,
    ) -> None:
        check_mode(mode, top_k)
        self.mode, self.top_k = mode, top_k
        self.pipeline = open_pipeline(store, pipeline)
        super().__init__(**kwargs)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        nodes = []
        for passage in evidence(self.pipeline, query_bundle.query_str, self.mode, self.top_k):
            node = TextNode(
                id_=f"memorag-chunk-{passage.chunk.chunk_id}", text=passage.text,
                metadata=passage_metadata(self.pipeline, passage),
                excluded_llm_metadata_keys=HIDDEN_FROM_MODELS, excluded_embed_metadata_keys=HIDDEN_FROM_MODELS,
                start_char_idx=passage.chunk.start, end_char_idx=passage.chunk.end,
            )
            nodes.append(NodeWithScore(node=node, score=passage_score(passage)))
        return nodes
