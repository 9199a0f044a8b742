"""The models every store's pipeline shares: loaded once per process, handed to each MemoRAG it opens.

memorag's loaders already cache the weights per process (models.load_causal_lm, embedders.load_mean_pooled,
llamacpp.load_llama); on top of that the pool hands every pipeline the same generator object (MemoRAG's
`generator` setter) and the same embedder object (`Retriever.embedder`), so that N stores cost one set of models.
The judge is the memory model, shared through load_causal_lm.
"""

from __future__ import annotations

from typing import Any

from memorag.config import GenerationConfig, MemoryConfig, RetrievalConfig


class ModelPool:
    def __init__(self, generation: GenerationConfig) -> None:
        self.generation = generation
        self._generator: Any = None
        self._embedders: dict[tuple[str, str, int], Any] = {}

    @property
    def generator(self) -> Any:
        if self._generator is None:
            from memorag.generation import from_config

            self._generator = from_config(self.generation)
        return self._generator

    def warm(self, memory: MemoryConfig, retrieval: RetrievalConfig) -> None:
        """Load the default models before the first request (so two first requests never load them twice)."""
        from memorag.models import load_causal_lm
        from memorag.retrieval import make_embedder

        self.generator  # noqa: B018 (loads it)
        key = (retrieval.embedder, retrieval.device, retrieval.batch_size)
        self._embedders.setdefault(key, make_embedder(retrieval.embedder, retrieval.device, retrieval.batch_size))
        load_causal_lm(memory.model, memory.device, memory.dtype)

    def share(self, rag: Any) -> Any:
        """Give `rag` (a MemoRAG) the pool's generator and the pool's embedder of its kind; returns it."""
        rag.generator = self.generator
        config = rag.retrieval_config
        key = (config.embedder, config.device, config.batch_size)
        rag.retriever.embedder = self._embedders.setdefault(key, rag.retriever.embedder)
        return rag
