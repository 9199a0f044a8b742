"""Global memories by kind (kv, gist, full, none) behind the Memory protocol; see registry.make_memory."""

from memorag.memory.base import CLUE_KINDS, Memory
from memorag.memory.registry import load_memory, make_memory

__all__ = ["CLUE_KINDS", "Memory", "load_memory", "make_memory"]
