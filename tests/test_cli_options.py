"""The generator options become one GenerationConfig for every command: a server with the key read from the named
environment variable, or the local model."""

from __future__ import annotations

import click
import pytest

from memorag.cli_options import generation_config


def test_a_server_url_gives_an_openai_backend_with_the_key_from_the_named_variable(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MY_KEY", "sk-test")
    config = generation_config("qwen", "http://127.0.0.1:8000/v1", "MY_KEY", "cuda", 4096, 64)
    assert (config.backend, config.model, config.base_url, config.api_key) == (
        "openai", "qwen", "http://127.0.0.1:8000/v1", "sk-test")
    assert (config.context_window, config.max_new_tokens) == (4096, 64)


def test_without_a_url_the_local_model_runs_on_the_device(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MY_KEY", "sk-test")
    config = generation_config("smollm2", None, "MY_KEY", "cuda")
    assert (config.backend, config.model, config.device, config.api_key) == ("auto", "smollm2", "cuda", None)
    assert config.context_window is None and config.max_new_tokens == 128


def test_the_generator_backend_picks_how_the_local_model_runs() -> None:
    config = generation_config("smollm2", None, "MY_KEY", generator_backend="llamacpp")
    assert (config.backend, config.model) == ("llamacpp", "smollm2")


def test_a_local_generator_backend_is_refused_with_a_server_url() -> None:
    with pytest.raises(click.UsageError, match="--generator-backend llamacpp .* --generator-url"):
        generation_config("qwen", "http://127.0.0.1:8000/v1", "MY_KEY", generator_backend="llamacpp")
