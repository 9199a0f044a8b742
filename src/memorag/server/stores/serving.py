"""The stores under the server's folder: listed from their manifests, each opened once and kept (opened again
when its revision changes: after this server's own writes or anyone else's), written only by jobs.

A store exists on disk only once it holds documents (memorag writes a store whole). `POST /v1/stores` records
an empty entry in `.memorag-server/stores.json`; GET /v1/stores lists it with status "empty", 0 documents and
revision null until its first memorize job has written it. Only folders that are memorag stores (store.is_store)
are ever deleted; a folder of another kind under a store's name is refused untouched (NotOursError).
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memorag.config import MemoryConfig, RetrievalConfig
from memorag.durable import write_text_atomic
from memorag.errors import (
    DocumentNotFoundError,
    EmptyStoreError,
    MemoRAGError,
    NotMemorizedError,
    NotOursError,
    StoreBusyError,
    StoreExistsError,
    StoreNotFoundError,
)
from memorag.formats import extract
from memorag.inputs import read_inputs
from memorag.pipeline import MemoRAG, next_text_number, sort_out, text_hash
from memorag.server.jobs.serving import JobQueue, Progress, Work
from memorag.server.models import ModelPool
from memorag.server.settings import STORE_NAME, ServerSettings
from memorag.server.slot import ModelSlot
from memorag.store import is_store, read_manifest, refuse_non_store, store_lock
from memorag.types import Document

EMPTY_STORES = "stores.json"
DELETE_LOCK_TIMEOUT = 10.0  # seconds a store delete waits for another writer (a CLI) before it gives up


@dataclass(frozen=True)
class PendingText:
    source: str | None  # None: memorag names it text-N
    text: str


@dataclass(frozen=True)
class PendingFile:
    source: str  # the uploaded file's name
    path: Path  # where the upload waits, under .memorag-server/uploads/


class StoreRegistry:
    def __init__(self, settings: ServerSettings, models: ModelPool) -> None:
        self.settings, self.models = settings, models
        self.lock = threading.RLock()  # entries, deletes and job submissions
        self._readers: dict[str, tuple[str | None, MemoRAG]] = {}
        self._loading: dict[str, threading.Lock] = {}
        self._empty_file = settings.server_dir / EMPTY_STORES
        self._empty: set[str] = set(self._read_empty())

    # ----- entries -------------------------------------------------------------------------------------
    def summaries(self) -> list[dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        root = Path(self.settings.stores)
        for path in sorted(root.iterdir()) if root.is_dir() else []:
            if STORE_NAME.fullmatch(path.name) and not path.is_symlink() and is_store(path):
                try:
                    manifest = read_manifest(path)
                except MemoRAGError:
                    continue  # damaged: left to `memorag info`
                found[path.name] = {"name": path.name, "status": "ready",
                                    "documents": len(manifest.get("documents", [])),
                                    "chunks": int(manifest.get("chunks", 0)), "revision": manifest.get("revision")}
        with self.lock:
            for name in self._empty - set(found):
                found[name] = {"name": name, "status": "empty", "documents": 0, "chunks": 0, "revision": None}
        return [found[name] for name in sorted(found)]

    def create(self, name: str) -> dict[str, Any]:
        path = self.settings.store_path(name)
        with self.lock:
            if is_store(path) or name in self._empty:
                raise StoreExistsError(f"store {name!r} exists already: add documents with POST /v1/stores/{name}"
                                       "/documents, or DELETE /v1/stores/{name} first")
            refuse_non_store(path)
            self._empty.add(name)
            self._write_empty()
        return {"name": name, "status": "empty", "documents": 0, "chunks": 0, "revision": None}

    def delete(self, name: str, jobs: JobQueue) -> None:
        path = self.settings.store_path(name)
        with self.lock:
            if jobs.active(name):
                raise StoreBusyError(f"store {name!r} has jobs queued or running: wait until they finish "
                                     "(GET /v1/jobs/ID), then delete it")
            if path.is_symlink():
                raise NotOursError(f"{name!r} is a symbolic link, not a store this server made: left untouched")
            if is_store(path):
                with store_lock(path, DELETE_LOCK_TIMEOUT):
                    if not is_store(path):  # pragma: no cover (another process removed it meanwhile)
                        raise StoreNotFoundError(f"store {name!r} was removed by another process")
                    shutil.rmtree(path)
            elif name not in self._empty:
                refuse_non_store(path)  # a folder or file that is not a store: NotOursError, untouched
                raise StoreNotFoundError(f"no store {name!r} on this server: GET /v1/stores lists them")
            self._empty.discard(name)
            self._write_empty()
            self._readers.pop(name, None)

    def require_target(self, name: str) -> Path:
        """The path a job for `name` writes: a store or an empty entry (call holding `lock`)."""
        path = self.settings.store_path(name)
        refuse_non_store(path)
        if not is_store(path) and name not in self._empty:
            raise StoreNotFoundError(f"no store {name!r} on this server: create it with POST /v1/stores "
                                     f'{{"name": "{name}"}} first')
        return path

    # ----- pipelines -----------------------------------------------------------------------------------
    def reader(self, name: str) -> MemoRAG:
        """The store's pipeline for asks: loaded once, loaded again when the store's revision changed."""
        path = self.settings.store_path(name)
        try:
            revision = read_manifest(path).get("revision")
        except StoreNotFoundError:
            if name in self._empty:
                raise NotMemorizedError(f"store {name!r} has no documents yet: add some with POST /v1/stores/"
                                        f"{name}/documents and wait for the job to finish") from None
            raise StoreNotFoundError(f"no store {name!r} on this server: GET /v1/stores lists them") from None
        cached = self._readers.get(name)
        if cached is not None and cached[0] == revision:
            return cached[1]
        with self.lock:
            loading = self._loading.setdefault(name, threading.Lock())
        with loading:  # one load per store at a time; others wait for it and take it
            cached = self._readers.get(name)
            if cached is not None and cached[0] == revision:
                return cached[1]
            # the revision read before loading: if a writer switched it meanwhile, the next call loads again
            rag = self.models.share(MemoRAG.load(path, self.models.generation, self.settings.device))
            self._readers[name] = (revision, rag)
            return rag

    def writer(self, name: str) -> MemoRAG:
        """A fresh pipeline for one write (the reader stays untouched if the write fails)."""
        path = self.settings.store_path(name)
        if is_store(path):
            return self.models.share(MemoRAG.load(path, self.models.generation, self.settings.device))
        device = self.settings.device
        return self.models.share(MemoRAG(MemoryConfig(device=device), RetrievalConfig(device=device),
                                         self.models.generation))

    def changed(self, name: str) -> None:
        """After this server wrote the store: its next reader is the new revision."""
        with self.lock:
            self._readers.pop(name, None)
            if name in self._empty and is_store(self.settings.store_path(name)):
                self._empty.discard(name)
                self._write_empty()

    def documents(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            if name in self._empty and not is_store(self.settings.store_path(name)):
                return []
        return [{"source": d.source, "chars": len(d.text), "pages": len(d.pages), "sha256": text_hash(d.text)}
                for d in self.reader(name).documents]

    # ----- the empty entries' file ---------------------------------------------------------------------
    def _read_empty(self) -> list[str]:
        try:
            names = json.loads(self._empty_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        return [n for n in names if isinstance(n, str) and STORE_NAME.fullmatch(n)] if isinstance(names, list) else []

    def _write_empty(self) -> None:
        write_text_atomic(self._empty_file, json.dumps(sorted(self._empty)))


# ----- the jobs' work ------------------------------------------------------------------------------------
def read_pending(items: Sequence[PendingText | PendingFile], progress: Progress) -> list[str | Document]:
    """What memorize takes: texts as Documents (or str, to be named text-N), files extracted by content."""
    inputs: list[str | Document] = []
    for number, item in enumerate(items):
        progress("reading", number / len(items))
        if isinstance(item, PendingText):
            inputs.append(item.text if item.source is None else Document(item.source, item.text))
            continue
        try:
            extracted = extract(item.path)
        except MemoRAGError as exc:  # name the upload, not where it waited
            raise type(exc)(str(exc).replace(str(item.path), item.source)) from None
        inputs.append(Document(item.source, extracted.text, extracted.pages))
    return inputs


def memorize_work(registry: StoreRegistry, slot: ModelSlot, name: str,
                  items: Sequence[PendingText | PendingFile], uploads: Path | None) -> Work:
    def work(progress: Progress) -> dict[str, Any]:
        try:
            inputs = read_pending(items, progress)
            progress("memorizing", None)
            with slot.held():
                writer = registry.writer(name)
                held = {document.source for document in writer.documents}
                documents = read_inputs(inputs, first_number=next_text_number(writer.documents)).documents
                kept, _ = sort_out(writer.documents, documents)
                timings = writer.memorize(documents, store=registry.settings.store_path(name), append=True,
                                          lock_timeout=registry.settings.lock_timeout)
            registry.changed(name)
        finally:
            if uploads is not None:
                shutil.rmtree(uploads, ignore_errors=True)
        new = {id(document) for document in kept}
        return {"added": [d.source for d in kept if d.source not in held],
                "replaced": [d.source for d in kept if d.source in held],
                "unchanged": [d.source for d in documents if id(d) not in new],
                "documents": len(writer.documents), "timings": timings}

    return work


def delete_work(registry: StoreRegistry, slot: ModelSlot, name: str, source: str) -> Work:
    def work(progress: Progress) -> dict[str, Any]:
        progress("deleting", None)
        with slot.held():
            writer = registry.writer(name)
            timings = writer.delete(source, store=registry.settings.store_path(name),
                                    lock_timeout=registry.settings.lock_timeout)
        registry.changed(name)
        return {"deleted": source, "documents": len(writer.documents), "timings": timings}

    return work


def check_deletable(registry: StoreRegistry, name: str, source: str) -> None:
    """Refuse now (404, 409) what the delete job would refuse later."""
    sources = [row["source"] for row in registry.documents(name)]
    if source not in sources:
        raise DocumentNotFoundError(f"store {name!r} holds no document {source!r}: GET /v1/stores/{name}/documents "
                                    "lists the sources (URL-encode the source in the path)")
    if sources == [source]:
        raise EmptyStoreError(f"{source!r} is the only document of store {name!r}: delete the store instead "
                              f"(DELETE /v1/stores/{name})")
