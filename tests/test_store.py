"""Store files: atomic writes, and clear refusals of missing, damaged, foreign or newer stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memorag.errors import StoreCorruptError, StoreMismatchError, StoreNotFoundError
from memorag.store import FORMAT, check_models, read_documents, read_manifest, write_store
from memorag.types import Document


def write_files(directory: Path) -> dict:
    (directory / "payload.bin").write_bytes(b"x" * 10)
    return {"models": {"memory": {"name": "m", "fingerprint": "sha256:aa"}}}


def test_round_trip_and_replace(tmp_path: Path):
    store = tmp_path / "store"
    write_store(store, write_files, [Document("a.txt", "text ä")])
    manifest = read_manifest(store)
    assert manifest["format"] == FORMAT and read_documents(store) == [Document("a.txt", "text ä")]
    write_store(store, write_files, [Document("b.txt", "new")])
    assert read_documents(store)[0].source == "b.txt"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]  # no temporary or old directories left


def test_a_failed_write_leaves_the_old_store_and_no_temporary_directory(tmp_path: Path):
    store = tmp_path / "store"
    write_store(store, write_files, [Document("a.txt", "kept")])

    def crash(directory: Path) -> dict:
        (directory / "half.bin").write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_store(store, crash, [Document("b.txt", "lost")])
    assert read_documents(store)[0].text == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]


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
        read_documents(tmp_path)


def test_newer_format_and_other_models_are_refused(tmp_path: Path):
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "memorag-store v9", "format_version": 9}))
    with pytest.raises(StoreMismatchError, match="upgrade"):
        read_manifest(tmp_path)
    manifest = {"models": {"memory": {"name": "smollm2", "fingerprint": "sha256:aa"}}}
    check_models(manifest, {"memory": {"name": "smollm2", "fingerprint": "sha256:aa"}}, tmp_path)
    with pytest.raises(StoreMismatchError, match="memorize the documents again"):
        check_models(manifest, {"memory": {"name": "other", "fingerprint": "sha256:bb"}}, tmp_path)
