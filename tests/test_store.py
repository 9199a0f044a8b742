"""Store files: atomic writes, one writer at a time, leftovers, and clear refusals of missing, damaged, foreign
or newer stores and of paths that are not stores."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from memorag.durable import write_text_atomic
from memorag.errors import (
    LockTimeoutError,
    NotOursError,
    StoreCorruptError,
    StoreMismatchError,
    StoreNotFoundError,
)
from memorag.store import (
    FORMAT,
    check_models,
    data_dir,
    leftovers,
    read_documents,
    read_manifest,
    store_lock,
    write_store,
)
from memorag.types import Document


def write_files(directory: Path) -> dict:
    (directory / "payload.bin").write_bytes(b"x" * 10)
    return {"models": {"memory": {"name": "m", "fingerprint": "sha256:aa"}}}


def documents_of(store: Path) -> list[Document]:
    return read_documents(data_dir(store, read_manifest(store)))


def test_round_trip_and_replace(tmp_path: Path):
    store = tmp_path / "store"
    first = write_store(store, write_files, [Document("a.txt", "text ä")])
    manifest = read_manifest(store)
    assert manifest["format"] == FORMAT and manifest["revision"] == first
    assert documents_of(store) == [Document("a.txt", "text ä")]
    second = write_store(store, write_files, [Document("b.txt", "new")])
    assert second != first and documents_of(store)[0].source == "b.txt"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]  # no temporary or old directories left
    assert sorted(p.name for p in store.iterdir()) == ["data-" + second, "manifest.json"]
    assert (store / "manifest.json").stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_failed_write_leaves_the_old_store_and_no_temporary_directory(tmp_path: Path):
    store = tmp_path / "store"
    write_store(store, write_files, [Document("a.txt", "kept")])
    before = snapshot(store)

    def crash(directory: Path) -> dict:
        (directory / "half.bin").write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_store(store, crash, [Document("b.txt", "lost")])
    assert snapshot(store) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]
    with pytest.raises(KeyboardInterrupt):
        write_store(tmp_path / "new", crash, [Document("b.txt", "lost")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` (or `root` itself) with its bytes."""
    if root.is_file():
        return {root.name: root.read_bytes()}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_folder_or_file_that_is_not_a_store_is_refused_untouched(tmp_path: Path):
    folder = tmp_path / "mydir"
    folder.mkdir()
    (folder / "thesis.txt").write_text("years of work")
    (folder / "manifest.json").write_text('{"name": "another tool\'s manifest"}')
    regular = tmp_path / "notes.txt"
    regular.write_text("my notes")
    for path in (folder, regular):
        before = snapshot(path)
        with pytest.raises(NotOursError, match="not a memorag store"):
            write_store(path, write_files, [Document("a.txt", "x")])
        assert snapshot(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mydir", "notes.txt"]


def test_a_v1_store_loads_and_its_next_write_keeps_what_is_not_ours(tmp_path: Path):
    store = tmp_path / "old"
    store.mkdir()
    (store / "manifest.json").write_text(json.dumps({"format": "memorag-store v1", "format_version": 1}))
    (store / "documents.json").write_text(json.dumps([{"source": "a.txt", "text": "v1"}]))
    (store / "index.faiss").write_bytes(b"faiss")
    (store / "README.user").write_text("the user's own note")
    assert data_dir(store, read_manifest(store)) == store and documents_of(store)[0].text == "v1"
    write_store(store, write_files, [Document("b.txt", "v2")])
    assert documents_of(store)[0].text == "v2"
    names = sorted(p.name for p in store.iterdir() if not p.name.startswith("data-"))
    assert names == ["README.user", "manifest.json"] and len(list(store.glob("data-*"))) == 1


def test_leftovers_are_listed_and_removed_by_the_next_write(tmp_path: Path):
    store = tmp_path / "store"
    write_store(store, write_files, [Document("a.txt", "a")])
    crashed = [tmp_path / ".store.tmp-1234", store / ".tmp-abcd", store / "data-0123456789ab",
               tmp_path / ".store.old-99"]
    for item in crashed:
        item.mkdir()
        (item / "payload.bin").write_bytes(b"x")
    (store / ".manifest.json.tmp-x1").write_text("{")
    (tmp_path / ".other.tmp-1").mkdir()  # another store's: not ours to clean here
    assert leftovers(store) == sorted([*crashed, store / ".manifest.json.tmp-x1"])
    write_store(store, write_files, [Document("b.txt", "b")])
    assert leftovers(store) == [] and (tmp_path / ".other.tmp-1").is_dir()


def test_a_second_writer_waits_then_times_out_naming_the_holder(tmp_path: Path):
    store = tmp_path / "store"
    waits: list[str] = []
    with store_lock(store), pytest.raises(LockTimeoutError, match=f"pid {os.getpid()}"), \
            store_lock(store, timeout=0.2, on_wait=waits.append):
        pass
    assert len(waits) == 1 and str(store) in waits[0]
    with store_lock(store, timeout=0.2):  # released when the holder's block ends
        pass


def test_write_text_atomic_replaces_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    target = tmp_path / "out.json"
    write_text_atomic(target, "old")
    target.chmod(0o640)

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk gone"):
        write_text_atomic(target, "new")
    monkeypatch.undo()
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
    write_text_atomic(target, "new")
    assert target.read_text() == "new" and target.stat().st_mode & 0o777 == 0o640


def test_missing_and_damaged_stores(tmp_path: Path):
    with pytest.raises(StoreNotFoundError, match="memorize"):
        read_manifest(tmp_path / "nothing")
    with pytest.raises(StoreNotFoundError, match="not a memorag store"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text('{"format": "memorag-store v1", "trunc')
    with pytest.raises(StoreCorruptError, match="not valid JSON"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text('{"format": "something else"}')
    with pytest.raises(StoreCorruptError, match="not a memorag manifest"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text('{"format": "memorag-store v1"}')
    with pytest.raises(StoreCorruptError, match="missing"):
        read_documents(data_dir(tmp_path, read_manifest(tmp_path)))


def test_newer_format_and_other_models_are_refused(tmp_path: Path):
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "memorag-store v9", "format_version": 9}))
    with pytest.raises(StoreMismatchError, match="upgrade"):
        read_manifest(tmp_path)
    manifest = {"models": {"memory": {"name": "smollm2", "fingerprint": "sha256:aa"}}}
    check_models(manifest, {"memory": {"name": "smollm2", "fingerprint": "sha256:aa"}}, tmp_path)
    with pytest.raises(StoreMismatchError, match="memorize the documents again"):
        check_models(manifest, {"memory": {"name": "other", "fingerprint": "sha256:bb"}}, tmp_path)
