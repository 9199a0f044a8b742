"""Fixtures for the retrieval tests: the real MiniLM tokenizer (no weights) and a hashing fake embedder."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from memorag.models import resolve


@pytest.fixture(scope="session")
def minilm_tokenizer() -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve("minilm").path)


class HashingEmbedder:
    """Bag of lower-cased words hashed into `dimension` buckets; records every text it embeds."""

    model_id = "hashing-fake"
    max_tokens = 256

    def __init__(self, tokenizer: Any, dimension: int = 64) -> None:
        self.tokenizer = tokenizer
        self.dimension = dimension
        self.seen: list[str] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.seen += texts
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                vectors[row, zlib.crc32(word.encode()) % self.dimension] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


@pytest.fixture
def hashing_embedder(minilm_tokenizer: Any) -> HashingEmbedder:
    return HashingEmbedder(minilm_tokenizer)
