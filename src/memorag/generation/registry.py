"""Backends by name, as GenerationConfig.backend spells them; from_config builds the configured one."""

from __future__ import annotations

from collections.abc import Callable

from memorag.config import GenerationConfig
from memorag.generation.base import Generator
from memorag.generation.llamacpp import LlamaCppGenerator
from memorag.generation.local import LocalGenerator
from memorag.generation.openai_compat import OpenAIGenerator

DEFAULT_HTTP_CONTEXT_WINDOW = 8192


def _local(config: GenerationConfig) -> Generator:
    return LocalGenerator(
        config.model, device=config.device, dtype=config.dtype, context_window=config.context_window
    )


def _llamacpp(config: GenerationConfig) -> Generator:
    from memorag.threads import cpu_threads

    # the process's thread setting (CLI --threads), not llama.cpp's own guess of half the cores
    return LlamaCppGenerator(config.model, context_window=config.context_window, n_threads=cpu_threads(),
                             weights=config.llamacpp_weights)


def _auto(config: GenerationConfig) -> Generator:
    """llama.cpp for a GGUF model on the CPU, transformers for everything else."""
    from memorag.models import resolve

    if config.device == "cpu" and resolve(config.model).gguf_file is not None:
        return _llamacpp(config)
    return _local(config)


def _openai(config: GenerationConfig) -> Generator:
    if not config.base_url:  # GenerationConfig already refuses this; kept for type narrowing
        raise ValueError("the openai backend needs base_url, e.g. http://127.0.0.1:8000/v1")
    return OpenAIGenerator(
        config.base_url,
        config.model,
        api_key=config.api_key,
        context_window=config.context_window or DEFAULT_HTTP_CONTEXT_WINDOW,
    )


BACKENDS: dict[str, Callable[[GenerationConfig], Generator]] = {
    "auto": _auto,
    "local": _local,
    "llamacpp": _llamacpp,
    "openai": _openai,
}


def from_config(config: GenerationConfig) -> Generator:
    """The generator config.backend names; max_new_tokens and temperature are passed to generate()."""
    try:
        build = BACKENDS[config.backend]
    except KeyError:
        raise ValueError(
            f"unknown generation backend {config.backend!r}; known: {sorted(BACKENDS)}"
        ) from None
    return build(config)
