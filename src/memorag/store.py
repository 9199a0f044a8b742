"""A store: one directory per memorized corpus, replaced atomically, one writer at a time, checked on load.

    manifest.json           {"format": "memorag-store v2", "revision", "data": "data-REV", configs, models, ...}
    data-REV/documents.json the memorized texts with their sources (the full-context mode and offsets need them)
    data-REV/memory.safetensors, index.faiss, chunks.json, ...   what the memory and the retriever save

A write builds a new `data-REV` folder, fsyncs it, and only then replaces manifest.json (one atomic rename):
a reader, a crash or a SIGKILL sees the old store or the new one, never a mix; the old data folder is removed
after the switch, and a reader that lost it to a newer write reads the manifest again (MemoRAG.load).
Format v1 stores (files beside manifest.json) still load, and are rewritten as v2 by their next write.

Only a memorag store (or nothing) is ever replaced: a folder or file that is not a store is refused untouched.
Writers hold an exclusive lock (`.NAME.lock` beside the store) for their whole read-modify-write; readers take
no lock. Leftovers of a crash (`.NAME.tmp-*` beside it, `.tmp-*` and unreferenced `data-*` inside) are listed by
`leftovers` (`memorag info`) and removed by the next write. No pickle anywhere.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from memorag.durable import (
    DEFAULT_LOCK_TIMEOUT,
    exclusive_lock,
    fsync_dir,
    refuse_foreign,
    sync_tree,
    write_text_atomic,
)
from memorag.errors import StoreCorruptError, StoreMismatchError, StoreNotFoundError
from memorag.types import Document

FORMAT = "memorag-store v2"
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
DOCUMENTS = "documents.json"
DATA_PATTERN = re.compile(r"data-[0-9a-f]{12}")
V1_FILES = (DOCUMENTS, "memory.safetensors", "index.faiss", "chunks.json", "gists.json")  # v1: beside the manifest


def is_store(path: Path) -> bool:
    """True when `path` is a directory whose manifest says it is a memorag store (damaged or not)."""
    try:
        manifest = json.loads((Path(path) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(manifest, dict) and str(manifest.get("format", "")).startswith("memorag-store")


def refuse_non_store(path: Path) -> None:
    """Raise NotOursError when `path` exists and is not a memorag store: nothing there is touched."""
    refuse_foreign(Path(path), is_store, "a memorag store",
                   "give --store a path that does not exist yet (or an existing store)")


@contextmanager
def store_lock(path: Path, timeout: float = DEFAULT_LOCK_TIMEOUT,
               on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """The store's write lock, held for a whole read-modify-write (append, replace)."""
    with exclusive_lock(Path(path), timeout, on_wait):
        yield


def data_dir(path: Path, manifest: dict[str, Any]) -> Path:
    """The folder holding a store's files: `data-REV` in format v2, the store itself in v1."""
    name = manifest.get("data")
    if name is None:
        return Path(path)
    if not DATA_PATTERN.fullmatch(str(name)):
        raise StoreCorruptError(f"{Path(path) / MANIFEST} names data folder {name!r}: the store is damaged")
    return Path(path) / name


def write_store(path: Path, write_files: Callable[[Path], dict[str, Any]], documents: list[Document]) -> str:
    """Write a new revision of the store at `path` (new or an existing store); returns its revision id.

    `write_files(folder) -> manifest fields` writes the memory's and retriever's files into `folder`. Call it
    holding `store_lock(path)`."""
    path = Path(path)
    refuse_non_store(path)
    clean_leftovers(path)
    revision = uuid.uuid4().hex[:12]
    data_name = f"data-{revision}"
    existing = path.is_dir()
    old = read_manifest(path) if existing else None
    # a new store is built whole beside its place and renamed in; an existing one gets a new data folder inside
    staging_root = path if existing else path.parent / f".{path.name}.tmp-{revision}"
    staging = path / f".tmp-{revision}" if existing else staging_root / data_name
    staging.mkdir(parents=True)
    switched = False
    try:
        fields = write_files(staging)
        _write_json(staging / DOCUMENTS, [_document_row(d) for d in documents])
        manifest = {**fields, "format": FORMAT, "format_version": FORMAT_VERSION, "revision": revision,
                    "data": data_name}
        text = json.dumps(manifest, ensure_ascii=False, indent=1)
        sync_tree(staging)
        if existing:
            staging = staging.rename(path / data_name)
            fsync_dir(path)
            write_text_atomic(path / MANIFEST, text)  # the switch: one rename
        else:
            write_text_atomic(staging_root / MANIFEST, text)
            staging_root.rename(path)  # the switch for a new store
            fsync_dir(path.parent)
        switched = True
    finally:
        if not switched:
            shutil.rmtree(staging if existing else staging_root, ignore_errors=True)
    if old is not None:
        _remove_data(path, old)
    return revision


def _remove_data(path: Path, manifest: dict[str, Any]) -> None:
    """Delete the files of a replaced revision (only names the store format writes)."""
    folder = data_dir(path, manifest)
    if folder != path:
        shutil.rmtree(folder, ignore_errors=True)
        return
    for name in V1_FILES:
        (path / name).unlink(missing_ok=True)
    fsync_dir(path)


def leftovers(path: Path) -> list[Path]:
    """What interrupted writes of the store at `path` left behind (removed by the next write)."""
    path = Path(path)
    found = [p for pattern in (f".{path.name}.tmp-*", f".{path.name}.old-*") for p in path.parent.glob(pattern)]
    if is_store(path):
        current = read_manifest(path).get("data")
        found += list(path.glob(".tmp-*")) + list(path.glob(f".{MANIFEST}.tmp-*"))
        found += [p for p in path.glob("data-*") if DATA_PATTERN.fullmatch(p.name) and p.name != current]
    return sorted(found)


def clean_leftovers(path: Path) -> list[Path]:
    removed = leftovers(path)
    for item in removed:
        if item.is_dir() and not item.is_symlink():
            shutil.rmtree(item, ignore_errors=True)
        else:
            item.unlink(missing_ok=True)
    return removed


def _write_json(path: Path, data: Any) -> None:
    with path.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False, indent=1)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreCorruptError(f"{path} is missing: the store is incomplete; memorize again") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise StoreCorruptError(f"{path} is not valid JSON ({exc}): the store is damaged; memorize again") from exc


def read_manifest(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_dir():
        raise StoreNotFoundError(f"no store at {path}: run `memorag memorize FILE --store {path}` first")
    if not (path / MANIFEST).exists():
        raise StoreNotFoundError(f"{path} has no {MANIFEST}: it is not a memorag store (or was never finished)")
    manifest = _read_json(path / MANIFEST)
    if not isinstance(manifest, dict) or not str(manifest.get("format", "")).startswith("memorag-store"):
        raise StoreCorruptError(f"{path / MANIFEST} is not a memorag manifest")
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise StoreMismatchError(
            f"{path} was written in store format {manifest.get('format')!r}, newer than this memorag reads "
            f"({FORMAT!r}): upgrade memorag (`pip install -U memorag`)"
        )
    return manifest


def _document_row(document: Document) -> dict[str, Any]:
    row: dict[str, Any] = {"source": document.source, "text": document.text}
    if document.pages:  # only paged sources (PDF) carry it; stores written before it load with pages ()
        row["pages"] = list(document.pages)
    return row


def read_documents(folder: Path) -> list[Document]:
    """The documents of a store's data folder (`data_dir(path, manifest)`)."""
    rows = _read_json(Path(folder) / DOCUMENTS)
    try:
        return [Document(source=row["source"], text=row["text"], pages=tuple(row.get("pages", ())))
                for row in rows]
    except (TypeError, KeyError) as exc:
        raise StoreCorruptError(f"{Path(folder) / DOCUMENTS} has unexpected content; memorize again") from exc


def check_models(manifest: dict[str, Any], expected: dict[str, dict[str, str]], path: Path) -> None:
    """Refuse a store whose memory model or embedder differs from the ones we would query it with."""
    for role, want in expected.items():
        have = manifest.get("models", {}).get(role, {})
        if have.get("fingerprint") != want["fingerprint"]:
            raise StoreMismatchError(
                f"{path} was made with {role} {have.get('name')!r} ({have.get('fingerprint')}), but this "
                f"pipeline uses {want['name']!r} ({want['fingerprint']}): load it with the same {role}, or "
                "memorize the documents again with this one"
            )
