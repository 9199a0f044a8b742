"""Memory kinds by name: build one from a MemoryConfig, or load one from a store's files and manifest state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memorag.config import MEMORY_KINDS, MemoryConfig
from memorag.errors import StoreCorruptError
from memorag.memory.base import Memory


def memory_class(kind: str) -> Any:
    if kind == "none":
        from memorag.memory.contextless import NoMemory

        return NoMemory
    if kind == "gist":
        from memorag.memory.gist import GistMemory

        return GistMemory
    if kind == "full":
        from memorag.memory.full import FullMemory

        return FullMemory
    if kind == "kv":
        from memorag.memory.kv import KVMemory

        return KVMemory
    raise ValueError(f"unknown memory kind {kind!r}; choose one of {MEMORY_KINDS}")


def make_memory(config: MemoryConfig, generator: Any = None, model: Any = None, tokenizer: Any = None) -> Memory:
    """A new, empty memory of `config.kind`. Kind "none" needs the generator; the others load the memory model
    (or take a loaded `model`, `tokenizer`)."""
    cls = memory_class(config.kind)
    if config.kind == "none":
        if generator is None:
            raise ValueError("memory kind 'none' writes clues with the generator: pass generator=")
        return cls(config, generator)  # type: ignore[no-any-return]
    return cls(config, model, tokenizer)  # type: ignore[no-any-return]


def saved_kind(directory: Path, state: dict[str, Any], config: MemoryConfig) -> str:
    """The memory kind the manifest's state names; StoreCorruptError when its settings name another."""
    kind = state.get("kind", "kv")
    if kind != config.kind:
        raise StoreCorruptError(f"{directory}: the manifest's settings say memory kind {config.kind!r} but its "
                                f"state says {kind!r}; the store is damaged, memorize again")
    return str(kind)


def check_memory_state(directory: Path, state: dict[str, Any], config: MemoryConfig) -> None:
    """What load_memory would refuse at once, checked without reading a tensor (nor importing torch): the kind
    the manifest's settings and state name, and that every safetensors file in `directory` opens."""
    from safetensors import safe_open

    saved_kind(directory, state, config)
    for path in sorted(directory.glob("*.safetensors")):
        try:
            with safe_open(str(path), framework="numpy") as handle:
                handle.keys()
        except Exception as exc:  # safetensors raises several types for a truncated or foreign file
            raise StoreCorruptError(f"{path} is unreadable ({exc.__class__.__name__}: {exc}); memorize again") from exc


def load_memory(
    directory: Path, state: dict[str, Any], config: MemoryConfig, generator: Any = None, model: Any = None,
    tokenizer: Any = None,
) -> Memory:
    """The memory saved in a store `directory`; `state` is the manifest's "memory_state"."""
    kind = saved_kind(directory, state, config)
    cls = memory_class(kind)
    if kind == "none":
        return cls.load(directory, state, config, generator)  # type: ignore[no-any-return]
    return cls.load(directory, state, config, model, tokenizer)  # type: ignore[no-any-return]
