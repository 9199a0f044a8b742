"""A LangChain retriever over a memorag store: `MemoRAGRetriever(store="stores/book", mode="rag", top_k=3)`.

Needs langchain-core (`pip install "memorag[langchain]"`). Each question's passages are memorag's own evidence
(`MemoRAG.ask(..., max_new_tokens=0).evidence`, in its order) as `Document`s whose metadata holds source, start,
end, page, chunk_id, doc_id and score. Works wherever LangChain takes a retriever (`retriever.invoke(q)`,
`retriever | RunnableLambda(...)`); async calls run the sync path in LangChain's executor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memorag.integrations.evidence import check_mode, evidence, open_pipeline, passage_metadata

try:
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
    from pydantic import ConfigDict, PrivateAttr, model_validator
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"memorag.integrations.langchain needs langchain-core ({exc}): run `pip install \"memorag[langchain]\"`"
    ) from exc


class MemoRAGRetriever(BaseRetriever):
    """`store` (a memorag store path) or `pipeline` (a MemoRAG already loaded); `mode` "rag" (the question's
    top_k chunks) or "memorag" (clues and the judge, as `ask` does); `top_k` passages per question."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: str | Path | None = None
    pipeline: Any = None
    mode: str = "rag"
    top_k: int = 3
    _rag: Any = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _open(self) -> MemoRAGRetriever:
        check_mode(self.mode, self.top_k)
        self._rag = open_pipeline(self.store, self.pipeline)
        return self

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [
            Document(page_content=passage.text, metadata=passage_metadata(self._rag, passage))
            for passage in evidence(self._rag, query, self.mode, self.top_k)
        ]
