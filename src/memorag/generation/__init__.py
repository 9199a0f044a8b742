"""Generators turn chat messages into answers: a local transformers model, llama.cpp on a GGUF in this process,
or an OpenAI-compatible server."""

from memorag.generation.base import Generator, estimate_tokens, fit_messages, head_and_tail, truncate_middle
from memorag.generation.llamacpp import LlamaCppGenerator
from memorag.generation.local import LocalGenerator, plain_prompt
from memorag.generation.openai_compat import OpenAIGenerator
from memorag.generation.registry import BACKENDS, from_config

__all__ = [
    "BACKENDS",
    "Generator",
    "LlamaCppGenerator",
    "LocalGenerator",
    "OpenAIGenerator",
    "estimate_tokens",
    "fit_messages",
    "from_config",
    "head_and_tail",
    "plain_prompt",
    "truncate_middle",
]
