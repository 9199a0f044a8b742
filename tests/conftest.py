"""Shared fixtures: a tiny random-weight Llama and a character tokenizer for unit tests (no weights needed), and a
hashing embedder that chunks with the real MiniLM tokenizer (no weights).

Under pytest-xdist (`make test` runs two workers) every worker and the processes its tests start run torch on one
thread: two workers of two threads each on two cores would oversubscribe them."""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):  # set before any test imports torch; subprocesses inherit it
    os.environ["OMP_NUM_THREADS"] = "1"


class CharTokenizer:
    """A stand-in tokenizer for unit tests of code around the model: one token per character."""

    chat_template = None
    eos_token_id = 1
    unk_token_id = 0
    pad_token_id = 1

    def __call__(self, text: str, add_special_tokens: bool = False, return_offsets_mapping: bool = False) -> dict:
        encoded: dict = {"input_ids": [2 + ord(c) % 97 for c in text]}
        if return_offsets_mapping:
            encoded["offset_mapping"] = [(i, i + 1) for i in range(len(text))]
        return encoded

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return "".join(chr(ord("a") + i % 26) for i in ids)

    def convert_tokens_to_ids(self, token: str) -> int:
        return 0


@pytest.fixture(scope="session")
def tiny_llama():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=99, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=512, attn_implementation="sdpa",
    )
    return LlamaForCausalLM(config).eval(), CharTokenizer()


@pytest.fixture(scope="session")
def minilm_tokenizer() -> Any:
    from transformers import AutoTokenizer

    from memorag.models import resolve

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
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


@pytest.fixture
def hashing_embedder(minilm_tokenizer: Any) -> HashingEmbedder:
    return HashingEmbedder(minilm_tokenizer)
