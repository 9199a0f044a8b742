"""One CPU thread count for every runtime in the process: torch, llama.cpp and onnxruntime.

`set_threads(n)` (the CLI's --threads) fixes it; otherwise it is torch's setting when torch is already imported,
else OMP_NUM_THREADS, else the cores this process may run on. Reading it never imports torch, so a process that
needs no torch (a `rag` question: onnxruntime embeds it, llama.cpp answers) never pays torch's import.
"""

from __future__ import annotations

import os
import sys

_threads: int | None = None


def set_threads(threads: int | None) -> None:
    """Use `threads` from now on (None: keep the default). torch is told now if imported, else when it is
    imported (through OMP_NUM_THREADS, which torch reads on import)."""
    global _threads
    if not threads:
        return
    if threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    _threads = threads
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def cpu_threads() -> int:
    """The thread count every runtime of this process should use."""
    if _threads:
        return _threads
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "get_num_threads"):
        return int(torch.get_num_threads())
    value = os.environ.get("OMP_NUM_THREADS", "")
    if value.isdigit() and int(value) > 0:
        return int(value)
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)
