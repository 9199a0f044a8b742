"""A store: one directory per memorized corpus, written atomically and checked on load.

    manifest.json       {"format": "memorag-store v1", versions, configs, model fingerprints, sizes, timings}
    documents.json      the memorized texts with their sources (the full-context mode and offsets need them)
    memory.safetensors  the compressed KV memory (float16 keys and values, int32 source positions)
    index.faiss         the FAISS index of the chunks' embeddings
    chunks.json         chunk text, source document and character offsets

No pickle anywhere. A store is written into a temporary sibling directory and renamed into place, so a crash
or Ctrl-C never leaves a half-written store behind, and an old store is replaced only once the new one is whole.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from memorag.errors import StoreCorruptError, StoreMismatchError, StoreNotFoundError
from memorag.types import Document

FORMAT = "memorag-store v1"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DOCUMENTS = "documents.json"


def write_store(path: Path, write_files: Callable[[Path], dict[str, Any]], documents: list[Document]) -> None:
    """Call `write_files(tmp_dir) -> manifest fields` in a temporary directory, then move it to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, **write_files(tmp)}
        _write_json(tmp / DOCUMENTS, [{"source": d.source, "text": d.text} for d in documents])
        _write_json(tmp / MANIFEST, manifest)  # last: a directory without it is never taken for a store
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            path.rename(old)
            tmp.rename(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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


def read_documents(path: Path) -> list[Document]:
    rows = _read_json(Path(path) / DOCUMENTS)
    try:
        return [Document(source=row["source"], text=row["text"]) for row in rows]
    except (TypeError, KeyError) as exc:
        raise StoreCorruptError(f"{Path(path) / DOCUMENTS} has unexpected content; memorize again") from exc


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
