"""Writing files so that a crash, a kill or a second writer never loses anything.

  write_text_atomic   a file replaced whole: temporary sibling, fsync, rename, fsync of the directory
  sync_tree           fsync every file and directory under a path, before it is renamed into place
  exclusive_lock      one writer at a time: an flock on a lock file that names its holder's pid
  refuse_foreign      a path that exists and is not ours is never overwritten or deleted

The rename is what makes a write atomic; the fsyncs make it durable (without them a power cut can leave a
renamed but empty file). Readers never take the lock: they see the old file or the new one, whole.
Does not handle network file systems whose flock is advisory across hosts only (NFS before v4).
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from memorag.errors import LockTimeoutError, NotOursError

DEFAULT_LOCK_TIMEOUT = 1800.0  # seconds; an append of a whole book takes minutes on a CPU


def fsync_dir(path: Path) -> None:
    """Make a rename or creation inside `path` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def sync_tree(root: Path) -> None:
    """fsync every file under `root`, then every directory bottom-up, then `root` itself."""
    for directory, _, files in os.walk(root, topdown=False):
        for name in files:
            _fsync_file(Path(directory) / name)
        fsync_dir(Path(directory))


def write_text_atomic(path: Path, text: str, encoding: str = "utf-8") -> None:
    """Replace `path` with `text` whole: a reader or a crash sees the old content or the new, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        os.chmod(temporary, path.stat().st_mode & 0o7777 if path.exists() else _default_mode())  # not mkstemp's 0600
        with os.fdopen(fd, "w", encoding=encoding) as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def _default_mode() -> int:
    """What a plain `open(path, "w")` would create: 0o666 less the process umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def refuse_foreign(path: Path, is_ours: Callable[[Path], bool], what: str, instead: str) -> None:
    """Raise NotOursError when `path` exists and `is_ours(path)` says it is not one of our outputs."""
    if (path.exists() or path.is_symlink()) and not is_ours(path):
        kind = "folder" if path.is_dir() else "file"
        raise NotOursError(f"{path} is an existing {kind} that is not {what}: memorag will not overwrite or delete "
                           f"it, and left it untouched; {instead}")


def lock_path_for(path: Path) -> Path:
    """The lock file beside `path` (not inside: a half-made folder must never look like a user's folder)."""
    return path.parent / f".{path.name}.lock"


def _holder(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
    except OSError:
        return "unknown"


@contextmanager
def exclusive_lock(path: Path, timeout: float = DEFAULT_LOCK_TIMEOUT,
                   on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the write lock of `path` (a store, an output folder) for the body; wait up to `timeout` seconds.

    The lock file stays behind (removing it would race with the next waiter); the kernel drops the lock when
    the holder exits, however it exits, so a killed writer never leaves a stale lock.
    """
    import fcntl  # POSIX; memorag's writers run on Linux and macOS

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_file = lock_path_for(path)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(fd)
                if time.monotonic() >= deadline:
                    raise LockTimeoutError(
                        f"{path} is being written by another memorag process ({holder}) and stayed locked for "
                        f"{timeout:.0f}s: wait for it to finish and run again, or give a longer --lock-timeout; "
                        f"the lock is {lock_file}") from None
                if on_wait is not None and not told:
                    on_wait(f"waiting for {holder}, which is writing {path}")
                    told = True
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock
