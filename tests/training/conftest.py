"""Fixtures for the training tests: own copies of the tiny random Llama (training changes weights in place), a
memory config that fits its 512-position window, a hashing embedder and a scripted generator."""

from __future__ import annotations

import copy
import re
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from memorag.config import MemoryConfig

pytest.importorskip("peft")



@pytest.fixture(scope="session")
def tiny_memory() -> MemoryConfig:
    """Fits the tiny Llama's 512 positions; model names a Hugging Face id that is never loaded (fingerprint only)."""
    return MemoryConfig(model="tiny-llama", beta=2, window=32, reserve=64, observation=4, max_clue_tokens=8)


@pytest.fixture
def tiny(tiny_llama) -> tuple[Any, Any]:
    """A private deep copy of the session's tiny Llama and its character tokenizer."""
    model, tokenizer = tiny_llama
    return copy.deepcopy(model), tokenizer


class HashingEmbedder:
    """Bag of lower-cased words hashed into 64 buckets (no weights); chunks with the real MiniLM tokenizer."""

    model_id = "hashing-fake"
    max_tokens = 256
    dimension = 64

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                vectors[row, zlib.crc32(word.encode()) % self.dimension] += 1.0
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


class EchoGenerator:
    """Answers with the first three words of the first passage: scores depend on what retrieval found."""

    def __init__(self) -> None:
        self.calls = 0

    def generate(self, messages: list[dict[str, str]], *, max_new_tokens: int = 128, temperature: float = 0.0) -> str:
        self.calls += 1
        passages = messages[-1]["content"].split("[1]", 1)[-1]
        return " ".join(passages.split()[:3])


@pytest.fixture(scope="session")
def minilm_tokenizer() -> Any:
    from transformers import AutoTokenizer

    from memorag.models import resolve

    return AutoTokenizer.from_pretrained(resolve("minilm").path)


@pytest.fixture
def hashing_embedder(minilm_tokenizer) -> HashingEmbedder:
    return HashingEmbedder(minilm_tokenizer)


@pytest.fixture
def echo_generator() -> EchoGenerator:
    return EchoGenerator()
