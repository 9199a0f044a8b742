"""GenerationConfig accepts the generation backends the registry builds and refuses any other name."""

from __future__ import annotations

import pytest

from memorag.config import GENERATION_BACKENDS, GenerationConfig
from memorag.generation import BACKENDS


def test_every_generation_backend_is_accepted_and_registered() -> None:
    assert GenerationConfig(backend="llamacpp").backend == "llamacpp"
    assert sorted(GENERATION_BACKENDS) == sorted(BACKENDS)


def test_an_unknown_generation_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="backend must be one of .*'llamacpp'.* not 'vllm'"):
        GenerationConfig(backend="vllm")
