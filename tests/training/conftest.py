"""Fixtures for the training tests: own copies of the tiny random Llama (training changes weights in place), a
memory config that fits its 512-position window and a scripted generator (the hashing embedder is the root
conftest's)."""

from __future__ import annotations

import copy
from typing import Any

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


class EchoGenerator:
    """Answers with the first three words of the first passage: scores depend on what retrieval found."""

    def __init__(self) -> None:
        self.calls = 0

    def generate(self, messages: list[dict[str, str]], *, max_new_tokens: int = 128, temperature: float = 0.0) -> str:
        self.calls += 1
        passages = messages[-1]["content"].split("[1]", 1)[-1]
        return " ".join(passages.split()[:3])


@pytest.fixture
def echo_generator() -> EchoGenerator:
    return EchoGenerator()
