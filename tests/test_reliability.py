"""Nothing lost, with real processes: `memorag memorize` subprocesses on a tiny local model (random weights, the
real MiniLM tokenizer and embedder), killed, run in parallel and read while they write. No file system mocks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from memorag.store import is_store, leftovers

WINDOW = "256"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from memorag.models import resolve

    folder = tmp_path_factory.mktemp("tiny") / "model"
    tokenizer = AutoTokenizer.from_pretrained(resolve("minilm").path)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32768)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def document(folder: Path, name: str, sentences: int = 60) -> Path:
    path = folder / f"{name}.txt"
    path.write_text(" ".join(f"{name} fact {i} is about the {name} river." for i in range(sentences)))
    return path


def memorize_command(model: Path, store: Path, *files: Path, flags: tuple[str, ...] = ("--append",)) -> list[str]:
    return [sys.executable, "-m", "memorag.cli", "memorize", *map(str, files), "--store", str(store),
            "--memory-model", str(model), "--window", WINDOW, "--json", *flags]


def run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=False, capture_output=True, text=True, timeout=300)


def sources(store: Path) -> list[str]:
    from memorag.store import data_dir, read_documents, read_manifest

    return sorted(d.source.rsplit("/", 1)[-1] for d in read_documents(data_dir(store, read_manifest(store))))


def snapshot(root: Path) -> dict[str, bytes]:
    if root.is_file():
        return {root.name: root.read_bytes()}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_refusals_leave_folders_files_and_stores_as_they_were(tiny_model: Path, tmp_path: Path):
    text = document(tmp_path, "alpha")
    folder, regular, store = tmp_path / "mydir", tmp_path / "notes.txt", tmp_path / "store"
    folder.mkdir()
    (folder / "thesis.txt").write_text("years of work")
    regular.write_text("my notes")
    for path in (folder, regular):
        for flags in ((), ("--append",), ("--force",)):
            before = snapshot(path)
            result = run(memorize_command(tiny_model, path, text, flags=flags))
            assert result.returncode == 2 and "not a memorag store" in result.stderr and "untouched" in result.stderr
            assert snapshot(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alpha.txt", "mydir", "notes.txt"]  # no lock, no tmp

    assert run(memorize_command(tiny_model, store, text, flags=())).returncode == 0
    (store / ".tmp-0123").mkdir()  # what a killed write leaves: reported by info, removed by the next write
    from click.testing import CliRunner

    from memorag.cli import cli

    shown = CliRunner().invoke(cli, ["info", str(store), "--json"])
    assert shown.exit_code == 0 and json.loads(shown.output)["leftovers"] == [str(store / ".tmp-0123")]
    before = snapshot(store)
    result = run(memorize_command(tiny_model, store, document(tmp_path, "beta"), flags=()))
    assert result.returncode == 2 and "--force" in result.stderr and "--append" in result.stderr
    assert snapshot(store) == before and sources(store) == ["alpha.txt"]
    assert run(memorize_command(tiny_model, store, tmp_path / "beta.txt", flags=("--force",))).returncode == 0
    assert sources(store) == ["beta.txt"] and leftovers(store) == []


@pytest.mark.slow
def test_parallel_appends_keep_every_document_once(tiny_model: Path, tmp_path: Path):
    store = tmp_path / "store"
    assert run(memorize_command(tiny_model, store, document(tmp_path, "base"), flags=())).returncode == 0
    names = [f"doc{i}" for i in range(4)]
    writers = [subprocess.Popen(memorize_command(tiny_model, store, document(tmp_path, name)),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in names]
    for writer in writers:
        _, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err
    assert sources(store) == sorted(["base.txt", *(f"{name}.txt" for name in names)])
    assert leftovers(store) == []


@pytest.mark.slow
def test_sigkill_anywhere_in_an_append_leaves_the_old_or_the_new_store(tiny_model: Path, tmp_path: Path):
    from memorag.pipeline import MemoRAG

    store = tmp_path / "store"
    assert run(memorize_command(tiny_model, store, document(tmp_path, "base"), flags=())).returncode == 0
    big = document(tmp_path, "big", sentences=400)
    started = time.perf_counter()
    probe = tmp_path / "probe"
    assert run(memorize_command(tiny_model, probe, big, flags=())).returncode == 0
    duration = time.perf_counter() - started
    outcomes = []
    for fraction in (0.75, 0.9, 0.97):  # three points; each costs a process start
        writer = subprocess.Popen(memorize_command(tiny_model, store, big), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        time.sleep(duration * fraction)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        assert is_store(store)
        seen = sources(store)
        assert seen in (["base.txt"], ["base.txt", "big.txt"])
        assert len(MemoRAG.load(store).documents) == len(seen)  # loadable, never a mix
        outcomes.append(seen)
        if len(seen) == 2:  # the append landed before the kill: start again from the old store
            assert run(memorize_command(tiny_model, store, tmp_path / "base.txt", flags=("--force",))).returncode == 0
    assert run(memorize_command(tiny_model, store, document(tmp_path, "after"))).returncode == 0
    assert leftovers(store) == [] and sources(store)[-1] == "base.txt" and "after.txt" in sources(store)
    assert not list(tmp_path.glob(".store.tmp-*"))


@pytest.mark.slow
def test_a_reader_loading_in_a_loop_never_fails_while_a_writer_appends(tiny_model: Path, tmp_path: Path):
    from memorag.pipeline import MemoRAG

    store = tmp_path / "store"
    assert run(memorize_command(tiny_model, store, document(tmp_path, "base"), flags=())).returncode == 0
    failures: list[BaseException] = []
    counts: list[int] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                counts.append(len(MemoRAG.load(store).documents))
            except BaseException as exc:  # noqa: BLE001 - every failure is the finding
                failures.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for name in ("one", "two", "three"):
            assert run(memorize_command(tiny_model, store, document(tmp_path, name))).returncode == 0
    finally:
        done.set()
        reader.join()
    assert failures == [] and len(counts) > 3
    assert counts == sorted(counts) and counts[0] >= 1 and sources(store) == ["base.txt", "one.txt", "three.txt",
                                                                               "two.txt"]
    assert os.path.exists(tmp_path / ".store.lock")


@pytest.mark.slow
def test_sigkill_anywhere_in_a_delete_leaves_the_old_or_the_new_store(tiny_model: Path, tmp_path: Path):
    from memorag.pipeline import MemoRAG

    store = tmp_path / "store"
    files = [document(tmp_path, name, sentences=200) for name in ("keep", "gone")]
    assert run(memorize_command(tiny_model, store, *files, flags=())).returncode == 0
    delete = [sys.executable, "-m", "memorag.cli", "docs", "delete", str(store), str(files[1]), "--json"]
    probe = tmp_path / "probe"
    assert run(memorize_command(tiny_model, probe, *files, flags=())).returncode == 0
    started = time.perf_counter()
    assert run([*delete[:5], str(probe), *delete[6:]]).returncode == 0
    duration = time.perf_counter() - started
    for fraction in (0.5, 0.8, 0.95):  # three points; each costs a process start
        writer = subprocess.Popen(delete, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(duration * fraction)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        seen = sources(store)
        assert seen in (["gone.txt", "keep.txt"], ["keep.txt"])
        loaded = MemoRAG.load(store)
        assert len(loaded.documents) == len(loaded.memory.segments) == len(seen)  # loadable, never a mix
        if seen == ["keep.txt"]:  # the delete landed before the kill: put the document back
            assert run(memorize_command(tiny_model, store, files[1])).returncode == 0
    assert run(delete).returncode == 0 and sources(store) == ["keep.txt"]
    assert leftovers(store) == []
