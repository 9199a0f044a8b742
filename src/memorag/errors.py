"""Every error memorag raises on purpose: one class per thing that can go wrong, each message says what to do."""

from __future__ import annotations


class MemoRAGError(Exception):
    """Base class; the CLI prints these without a traceback and exits with status 2."""


class EmptyInputError(MemoRAGError, ValueError):
    """The text (or file) given to memorize holds no characters other than white space."""


class InputDecodeError(MemoRAGError, ValueError):
    """A file is binary or is not valid text in the requested encoding."""


class UnsupportedInputError(InputDecodeError):
    """A PDF, DOCX or HTML file whose text cannot be extracted: encrypted, scanned (no text layer) or corrupt."""


class StoreNotFoundError(MemoRAGError, FileNotFoundError):
    """No memorag store at the given path."""


class StoreCorruptError(MemoRAGError):
    """A store exists but a file is missing, truncated or unreadable."""


class StoreMismatchError(MemoRAGError):
    """A store was made with another memory model, embedder or a newer store format."""


class NotMemorizedError(MemoRAGError, RuntimeError):
    """A question was asked before anything was memorized or loaded."""


class UnknownModelError(MemoRAGError, ValueError):
    """A model name is neither an embedded default, a local path nor a loadable Hugging Face id."""


class MemoryBudgetError(MemoRAGError):
    """The compressed memory would not fit the memory model's window."""


class GenerationError(MemoRAGError, RuntimeError):
    """A generator backend (local or HTTP) failed to produce text."""


class NotOursError(MemoRAGError, FileExistsError):
    """A path memorag was asked to write exists and is not a memorag output (a user's folder or file)."""


class StoreExistsError(MemoRAGError, FileExistsError):
    """A store exists where a new one was to be written; replacing it needs overwrite=True (CLI --force)."""


class StoreChangedError(MemoRAGError):
    """A store changed on disk (another writer) after this pipeline loaded it, and saving would drop that."""


class LockTimeoutError(MemoRAGError, TimeoutError):
    """Another process held a store's (or output's) write lock for longer than the timeout."""


class DocumentNotFoundError(MemoRAGError, KeyError):
    """A delete or replace names a source the store does not hold."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class EmptyStoreError(MemoRAGError, ValueError):
    """A delete would leave no document."""


# ----- memorize on Ray (memorag.distributed) ---------------------------------------------------------------------
class RayUnavailableError(MemoRAGError):
    """`executor="ray"` cannot start: Ray is not installed, or no Ray cluster answers at the address given."""


class RayUnsupportedError(MemoRAGError, ValueError):
    """A memory kind whose documents Ray workers cannot memorize apart (gist, none)."""


class RayWorkerError(MemoRAGError, RuntimeError):
    """A Ray worker died on a document more often than it is restarted."""


# ----- the HTTP service (memorag serve, memorag.server): each maps to one HTTP status in server/envelope.py -----
class ExposedServerError(MemoRAGError):
    """`memorag serve` was asked to listen beyond the loopback interface without an API key."""


class UnauthorizedError(MemoRAGError):
    """A request to the server lacks the bearer API key, or gives another one."""


class InvalidStoreNameError(MemoRAGError, ValueError):
    """A store name the server refuses: only letters, digits and `._-`, not starting with `.`, 64 at most."""


class StoreBusyError(MemoRAGError):
    """A store has jobs queued or running, so it cannot be deleted now."""


class JobNotFoundError(MemoRAGError, KeyError):
    """No job of this server has the given id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class JobInterruptedError(MemoRAGError):
    """A server job was queued or running when the server stopped (a restart, a crash, a kill)."""


class TooManyJobsError(MemoRAGError):
    """The server already holds as many queued and running jobs as it accepts (`memorag serve --max-jobs`)."""


class PayloadTooLargeError(MemoRAGError):
    """A request body is larger than the server accepts (`memorag serve --max-upload-mb`)."""


class AskTimeoutError(MemoRAGError, TimeoutError):
    """An ask did not finish within the server's time limit (`memorag serve --ask-timeout`)."""


class ListenError(MemoRAGError, OSError):
    """`memorag serve` cannot listen on the host and port it was given (taken, or not this machine's)."""
