"""The converted-weights cache: a GGUF model is dequantized once, then loaded from safetensors in a fraction of a second.

transformers converts a GGUF file (tokenizer and tensors) into torch on every load: about 20 s for SmolLM2-135M
on two cores. The first load writes the result (safetensors weights, config, tokenizer files and `entry.json`)
into `$MEMORAG_CACHE/weights/<key>/` (default `~/.cache/memorag`); later loads read that folder. The llama.cpp
generator keeps its float16 copies of small GGUF files here too (dtype "gguf-float16": one `model.gguf`,
memorag.generation.llamacpp), with the same checks.

  key          sha256 of the source's fingerprint, the dtype and this cache's format: other weights, another
               dtype or a newer format never share an entry
  entry.json   what the entry holds: format, source path, fingerprint, dtype, and each file's size and the
               sha256 of its first and last MiB; an entry whose record is missing, whose fingerprint or dtype is
               another's, or whose files are truncated or changed is never loaded: it is rebuilt
  writes       into `.tmp-<key>-*` (marked by a `.memorag-tmp` file), fsynced, then renamed into place; two
               processes filling one entry both succeed (the second rename loses and reads the winner's entry)

Only folders this module wrote (an `entry.json` of its format, or a marked temporary folder) are ever replaced or
deleted; anything else found in the cache is left alone and named by `memorag cache info`.
Does not bound the cache's size (SmolLM2 takes 0.5 GB, Gemma 3 270M 1.1 GB in float32): `memorag cache clear`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memorag.durable import fsync_dir, sync_tree, write_text_atomic

FORMAT = "memorag-weights v1"
ENTRY_FILE = "entry.json"
TMP_MARK = ".memorag-tmp"
_PROBE = 1 << 20  # bytes hashed at each end of a file


def cache_root() -> Path:
    """$MEMORAG_CACHE, or ~/.cache/memorag."""
    return Path(os.environ.get("MEMORAG_CACHE") or Path.home() / ".cache" / "memorag").expanduser()


def weights_dir(root: Path | None = None) -> Path:
    return (root or cache_root()) / "weights"


def entry_key(fingerprint: str, dtype: str) -> str:
    return hashlib.sha256(f"{FORMAT}|{fingerprint}|{dtype}".encode()).hexdigest()[:24]


def _probe(path: Path) -> dict[str, Any]:
    """Size plus the sha256 of the first and last MiB: catches truncation and a replaced file without reading
    all of a large one."""
    size = path.stat().st_size
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        digest.update(handle.read(_PROBE))
        handle.seek(max(0, size - _PROBE))
        digest.update(handle.read(_PROBE))
    return {"size": size, "probe": digest.hexdigest()}


def read_entry(folder: Path) -> dict[str, Any] | None:
    """The entry record of `folder`, or None when it has none of this cache's format (not ours)."""
    try:
        record = json.loads((folder / ENTRY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("format") == FORMAT else None


def entry_problem(folder: Path, fingerprint: str | None = None, dtype: str | None = None) -> str | None:
    """Why `folder` must not be loaded (for these weights and dtype when given), or None when it is sound."""
    record = read_entry(folder)
    if record is None:
        return "no entry.json of this cache's format"
    if fingerprint is not None and record.get("fingerprint") != fingerprint:
        return f"written for other weights ({record.get('fingerprint')}, not {fingerprint})"
    if dtype is not None and record.get("dtype") != dtype:
        return f"written for dtype {record.get('dtype')}, not {dtype}"
    files = record.get("files")
    if not isinstance(files, dict) or not files:
        return "entry.json lists no files"
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != expected.get("size"):
            return f"{name} is {path.stat().st_size} bytes, not {expected.get('size')} (truncated or replaced)"
        if _probe(path) != expected:
            return f"{name} changed since it was written"
    return None


def is_ours(folder: Path) -> bool:
    """A folder this module wrote: a finished entry, or a marked temporary folder."""
    return read_entry(folder) is not None or (folder.name.startswith(".tmp-") and (folder / TMP_MARK).exists())


def _remove_ours(folder: Path) -> None:
    """Delete one of our folders: renamed aside first, so no reader ever sees a half-deleted entry."""
    if not is_ours(folder):
        return
    aside = folder.parent / f".tmp-trash-{folder.name}-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        folder.rename(aside)
    except FileNotFoundError:
        return  # another process removed or replaced it first
    (aside / TMP_MARK).touch()
    shutil.rmtree(aside, ignore_errors=True)


def cached_weights(
    fingerprint: str, dtype: str, source: str, convert: Callable[[Path], None], root: Path | None = None
) -> Path | None:
    """The folder holding the converted weights for `fingerprint` and `dtype`, filling it with `convert(folder)`
    the first time (convert writes model.safetensors, config and tokenizer files into the folder it is given).

    Returns None when the entry's place is taken by a folder that is not ours (it is left untouched and the caller
    loads from the source); raises what `convert` raises, leaving nothing behind but a marked temporary folder
    that the next fill removes.
    """
    base = weights_dir(root)
    target = base / entry_key(fingerprint, dtype)
    if target.exists():
        if entry_problem(target, fingerprint, dtype) is None:
            return target
        if not is_ours(target):
            return None
        _remove_ours(target)  # truncated, changed or another's: rebuilt below
    base.mkdir(parents=True, exist_ok=True)
    _clean_stale_tmp(base)
    temporary = Path(tempfile.mkdtemp(prefix=f".tmp-{target.name}-", dir=base))
    try:
        (temporary / TMP_MARK).touch()
        convert(temporary)
        files = {
            path.name: _probe(path)
            for path in sorted(temporary.iterdir())
            if path.is_file() and path.name not in (TMP_MARK, ENTRY_FILE)
        }
        record = {"format": FORMAT, "source": source, "fingerprint": fingerprint, "dtype": dtype, "files": files}
        write_text_atomic(temporary / ENTRY_FILE, json.dumps(record, indent=1))
        (temporary / TMP_MARK).unlink()
        sync_tree(temporary)
        try:
            temporary.rename(target)
        except OSError:  # another process renamed its entry into place first: read that one
            (temporary / TMP_MARK).touch()
            shutil.rmtree(temporary, ignore_errors=True)
            if entry_problem(target, fingerprint, dtype) is not None:
                return None
        fsync_dir(base)
        return target
    except BaseException:
        if temporary.exists():
            (temporary / TMP_MARK).touch()
            shutil.rmtree(temporary, ignore_errors=True)
        raise


def _clean_stale_tmp(base: Path, older_than_s: float = 3600.0) -> None:
    """Remove marked temporary folders left by killed fills (older than an hour: a live fill takes seconds)."""
    import time

    for folder in base.glob(".tmp-*"):
        try:
            stale = time.time() - folder.stat().st_mtime > older_than_s
        except FileNotFoundError:
            continue
        if stale and (folder / TMP_MARK).exists():
            shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class CacheEntry:
    path: Path
    source: str
    dtype: str
    bytes: int
    problem: str | None  # None: sound


def _folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def info(root: Path | None = None) -> dict[str, Any]:
    """What the cache holds: entries (sound or not), temporary leftovers, and anything that is not ours."""
    base = weights_dir(root)
    entries: list[CacheEntry] = []
    leftovers: list[str] = []
    foreign: list[str] = []
    for folder in sorted(base.iterdir()) if base.is_dir() else []:
        record = read_entry(folder) if folder.is_dir() else None
        if record is not None:
            entries.append(CacheEntry(folder, str(record.get("source")), str(record.get("dtype")),
                                      _folder_bytes(folder), entry_problem(folder)))
        elif folder.is_dir() and is_ours(folder):
            leftovers.append(str(folder))
        else:
            foreign.append(str(folder))
    return {
        "root": str(root or cache_root()),
        "entries": [
            {"path": str(e.path), "source": e.source, "dtype": e.dtype, "bytes": e.bytes, "problem": e.problem}
            for e in entries
        ],
        "bytes": sum(e.bytes for e in entries),
        "leftovers": leftovers,
        "not_ours": foreign,
    }


def clear(root: Path | None = None) -> dict[str, Any]:
    """Delete every entry and temporary folder this cache wrote; leave everything else (returned as not_ours)."""
    before = info(root)
    for path in [entry["path"] for entry in before["entries"]] + before["leftovers"]:
        _remove_ours(Path(path))
    return {"removed": len(before["entries"]) + len(before["leftovers"]), "bytes": before["bytes"],
            "not_ours": before["not_ours"], "root": before["root"]}
