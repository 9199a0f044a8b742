"""Quiet by default: third-party progress bars, log lines and warnings stay off a normal run's stderr.

  quiet_libraries(verbose)   process-wide, called once by the CLI: transformers and huggingface_hub log only
                             errors and draw no bars; warnings raised from outside memorag are not shown
  captured_stderr()          around one noisy third-party call (a GGUF conversion, a llama.cpp load): file
                             descriptor 2 goes to a temporary file, replayed on stderr when the call fails so no
                             error is ever hidden; a no-op once `--verbose` asked for everything

memorag's own progress bars (memorize, eval, training) and messages are untouched. With `--verbose` nothing is
silenced. Does not silence C libraries that write to stdout.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

_verbose = False


def is_verbose() -> bool:
    return _verbose


def quiet_libraries(verbose: bool = False) -> None:
    """Set the process's noise level: everything with verbose, else third-party output only on errors."""
    global _verbose
    _verbose = verbose
    if verbose:
        return
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # its fork warning, and no threads behind our back
    warnings.filterwarnings("ignore")
    warnings.filterwarnings("default", module=r"memorag(\.|$)")  # ours stay visible: they are ours to fix
    for name in ("pypdf", "trafilatura", "htmldate"):  # memorize's format readers: a broken file is our error
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - transformers is a dependency
        return
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


@contextmanager
def captured_stderr() -> Iterator[None]:
    """Send file descriptor 2 (C libraries and Python alike) to a temporary file for the body; replay it on
    stderr when the body raises. Does nothing when verbose."""
    if _verbose:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            sys.stderr.flush()
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode("utf-8", "replace")[-4000:])
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
