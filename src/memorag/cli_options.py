"""Click options shared by `memorag` (cli.py), `memorag eval` and `memorag train`: one spelling, default and help.

`generation_config` turns the generator options into a GenerationConfig; it reads the API key from the environment
variable --api-key-env names, the only place the CLI reads the environment. Each constant is a click option
decorator (click builds a fresh Option each time one is applied), so commands list them in the order they want;
`options(...)` applies several at once, first on top of `--help`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click

from memorag.config import BETAS, COMPRESSORS, RETRIEVERS, GenerationConfig, RetrievalConfig

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def options(*decorators: Decorator) -> Decorator:
    """Apply `decorators` so that --help lists them in the order given."""

    def apply(func: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


# ----- the memory model ------------------------------------------------------------------------------------------
MEMORY_MODEL = click.option(
    "--memory-model", default="smollm2", show_default=True,
    help="Memory model: embedded name (smollm2, gemma3-270m), local path, .gguf file or HF id.")
BETA = click.option(
    "--beta", type=click.Choice([str(b) for b in BETAS]), default=None,
    help="KV compression ratio per window. Default: the smallest that fits the model's window.")
COMPRESSOR = click.option(
    "--compressor", type=click.Choice(COMPRESSORS), default="snapkv", show_default=True,
    help="snapkv keeps the keys the window's last tokens attend to; mean averages runs of beta; recent keeps each "
         "window's last 1/beta (attention-free baseline).")
WINDOW = click.option("--window", type=int, default=2048, show_default=True,
                      help="Tokens read per step before compressing.")

# ----- the index -------------------------------------------------------------------------------------------------
EMBEDDER = click.option("--embedder", default="minilm", show_default=True,
                        help="Sentence embedder: embedded name, path or HF id.")
CHUNK_TOKENS = click.option("--chunk-tokens", type=int, default=200, show_default=True,
                            help="Chunk size in embedder tokens.")
CHUNK_OVERLAP = click.option("--chunk-overlap", type=int, default=32, show_default=True,
                             help="Tokens shared by neighbouring chunks.")
RETRIEVER_HELP = ("How each query ranks chunks: dense (embedder + FAISS), bm25 (the store's lexical index) or "
                  "hybrid (both, fused by reciprocal rank).")
RETRIEVER = click.option("--retriever", type=click.Choice(RETRIEVERS), default=RetrievalConfig.retriever,
                         show_default=True, help=RETRIEVER_HELP + " Recorded in the store.")
RETRIEVER_OVERRIDE = click.option("--retriever", type=click.Choice(RETRIEVERS), default=None,
                                  help=RETRIEVER_HELP + " Default: the store's.")

# ----- the generator ---------------------------------------------------------------------------------------------
GENERATOR = click.option(
    "--generator", default="smollm2", show_default=True,
    help="Generator model: an embedded name, local path or HF id; with --generator-url, the model name the server "
         "serves.")
GENERATOR_BACKEND = click.option(
    "--generator-backend", type=click.Choice(["auto", "local", "llamacpp"]), default="auto", show_default=True,
    help="How the local generator runs: local (transformers; any model), llamacpp (llama.cpp in this process; "
         "an embedded GGUF name or a .gguf file), auto (llamacpp for a GGUF on the CPU, else local). Not with "
         "--generator-url.")
GENERATOR_URL = click.option(
    "--generator-url", default=None,
    help="Base URL of an OpenAI-compatible server (vLLM, llama.cpp, Ollama, OpenAI), e.g. http://127.0.0.1:8000/v1. "
         "Without it the generator runs locally.")
API_KEY_ENV = click.option("--api-key-env", default="MEMORAG_API_KEY", show_default=True,
                           help="Environment variable holding the API key for --generator-url.")
GENERATOR_WINDOW = click.option(
    "--generator-window", type=int, default=None,
    help="Context window of the generator in tokens (default: the local model's own; 8192 for servers).")

# ----- running ---------------------------------------------------------------------------------------------------
DEVICE = click.option("--device", default="cpu", show_default=True, help="torch device for local models: cpu, cuda.")
THREADS = click.option(
    "--threads", type=click.IntRange(min=1), default=None,
    help="CPU threads for local models (default: OMP_NUM_THREADS, else the cores this process may use). Use 1 when other processes share the cores: "
         "oversubscribed threads can make generation ten times slower.")
NO_PROGRESS = click.option("--no-progress", is_flag=True, help="No progress bar.")

MEMORY_OPTIONS = options(MEMORY_MODEL, BETA, COMPRESSOR, WINDOW)
INDEX_OPTIONS = options(EMBEDDER, CHUNK_TOKENS, CHUNK_OVERLAP)
GENERATOR_OPTIONS = options(GENERATOR, GENERATOR_BACKEND, GENERATOR_URL, API_KEY_ENV)


def set_threads(threads: int | None) -> None:
    """The process's thread count for torch, llama.cpp and onnxruntime when given (memorag.threads)."""
    from memorag.threads import set_threads as set_process_threads

    set_process_threads(threads)


def generation_config(generator: str, generator_url: str | None, api_key_env: str, device: str = "cpu",
                      generator_window: int | None = None,
                      max_new_tokens: int = GenerationConfig.max_new_tokens,
                      generator_backend: str = "auto") -> GenerationConfig:
    """The generator of the GENERATOR_OPTIONS: a server at --generator-url (its key from the environment variable
    --api-key-env names), else the local model on `device`, run by --generator-backend."""
    if generator_url:
        if generator_backend not in ("auto", "local"):
            raise click.UsageError(f"--generator-backend {generator_backend} runs the model in this process; "
                                   "leave it out with --generator-url (the server runs the model)")
        return GenerationConfig(backend="openai", model=generator, base_url=generator_url,
                                api_key=os.environ.get(api_key_env), context_window=generator_window,
                                max_new_tokens=max_new_tokens)
    return GenerationConfig(backend=generator_backend, model=generator, context_window=generator_window,
                            max_new_tokens=max_new_tokens, device=device)
