"""from_config picks the backend GenerationConfig names (no weights: load_causal_lm is faked)."""

from __future__ import annotations

from typing import Any

import pytest

from memorag.config import GenerationConfig
from memorag.generation import BACKENDS, LocalGenerator, OpenAIGenerator, from_config, local


def test_openai_backend_carries_url_model_key_and_window() -> None:
    config = GenerationConfig(
        backend="openai",
        model="served",
        base_url="http://127.0.0.1:8000/v1/",
        api_key="k",
        context_window=4096,
    )
    generator = from_config(config)
    assert isinstance(generator, OpenAIGenerator)
    assert (generator.url, generator.model_id, generator.context_window) == (
        "http://127.0.0.1:8000/v1/chat/completions",
        "served",
        4096,
    )
    assert from_config(GenerationConfig(backend="openai", base_url="http://h/v1")).context_window == 8192


def test_local_backend_loads_the_configured_model(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str, str]] = []

    class Config:
        max_position_embeddings = 2048

    class Model:
        config = Config()

    def fake_load(name: str, device: str, dtype: str) -> tuple[Any, Any]:
        calls.append((name, device, dtype))
        return Model(), object()

    monkeypatch.setattr(local, "load_causal_lm", fake_load)
    generator = from_config(GenerationConfig(model="m", dtype="bfloat16", context_window=1024))
    assert isinstance(generator, LocalGenerator)
    assert calls == [("m", "cpu", "bfloat16")] and generator.context_window == 1024
    assert sorted(BACKENDS) == ["auto", "llamacpp", "local", "openai"]


def test_auto_runs_a_cpu_gguf_on_llamacpp_and_the_rest_on_transformers(monkeypatch: pytest.MonkeyPatch) -> None:
    from memorag.generation import registry

    built: list[tuple[str, str]] = []
    monkeypatch.setattr(registry, "_llamacpp", lambda config: built.append(("llamacpp", config.model)))
    monkeypatch.setattr(registry, "_local", lambda config: built.append(("local", config.model)))
    for model, device in (("smollm2", "cpu"), ("smollm2", "cuda"), ("some/hf-id", "cpu")):
        registry.BACKENDS["auto"](GenerationConfig(model=model, device=device))
    assert built == [("llamacpp", "smollm2"), ("local", "smollm2"), ("local", "some/hf-id")]
    assert GenerationConfig().backend == "auto"


def test_openai_base_url_needs_a_scheme() -> None:
    with pytest.raises(ValueError, match="http://"):
        OpenAIGenerator("localhost:8000/v1", "m")
