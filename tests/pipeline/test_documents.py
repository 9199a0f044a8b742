"""Documents as first-class on the real embedded models: delete, replace, memorize-again, old stores, routing.

SmolLM2-135M is the memory model and MiniLM the embedder, as in `MemoRAG()`; the documents are small files
written by the tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from memorag.cli import cli
from memorag.config import MemoryConfig, RetrievalConfig
from memorag.errors import DocumentNotFoundError, EmptyStoreError
from memorag.pipeline import MemoRAG
from memorag.store import data_dir, read_manifest

FACTS = {
    "lovelace": "Ada Lovelace wrote the first published program, for Babbage's Analytical Engine, in 1843.",
    "hopper": "Grace Hopper built the A-0 compiler for the UNIVAC in 1952 and popularized the word debugging.",
    "hamilton": "Margaret Hamilton led the team that wrote the Apollo guidance software at MIT in 1969.",
}


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.md"
    path.write_text(f"# {name}\n\n{text}\n\n" + "More notes follow about the history of computing.\n" * 3)
    return path


def store_bytes(store: Path) -> int:
    folder = data_dir(store, read_manifest(store))
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def segment_tensors(rag: MemoRAG) -> list[list[torch.Tensor]]:
    return [[*s.keys, *s.values, *s.sources] for s in rag.memory.segments]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("docs")
    return {name: write(folder, name, text) for name, text in FACTS.items()}


def test_delete_forgets_one_document_everywhere_and_leaves_the_others_byte_identical(files, tmp_path):
    store = tmp_path / "store"
    rag = MemoRAG(retrieval=RetrievalConfig(chunk_tokens=40, chunk_overlap=0))
    rag.memorize(list(files.values()), store=store)
    before, size = segment_tensors(rag), store_bytes(store)
    hopper = str(files["hopper"])

    loaded = MemoRAG.load(store)
    loaded.delete(hopper, store=store)
    after = MemoRAG.load(store)
    assert [d.source for d in after.documents] == [str(files["lovelace"]), str(files["hamilton"])]
    kept = segment_tensors(after)
    for mine, theirs in zip(kept, [before[0], before[2]], strict=True):
        assert all(torch.equal(a, b) for a, b in zip(mine, theirs, strict=True))  # as memorized, unmoved
    assert store_bytes(store) < size
    assert all(c.source != hopper for c in after.retriever.chunks)
    assert {c.doc_id for c in after.retriever.chunks} == {0, 1}
    answer = after.ask("Who built the A-0 compiler?", mode="rag", top_k=50, max_new_tokens=0)
    assert answer.evidence and all(p.source != hopper for p in answer.evidence)
    stream = after.memory.protected + sum(s.tokens for s in after.memory.segments)
    assert after.memory.tokens_read == stream and int(after.memory.sources[0].max()) < stream
    with pytest.raises(DocumentNotFoundError, match="docs list"):
        after.delete(hopper, store=store)
    with pytest.raises(EmptyStoreError):
        after.delete([str(files["lovelace"]), str(files["hamilton"])], store=store)
    assert len(MemoRAG.load(store).documents) == 2  # the refusals wrote nothing


def test_memorizing_again_is_a_no_op_and_a_changed_file_replaces_its_old_version(files, tmp_path):
    store = tmp_path / "store"
    folder = tmp_path / "src"
    folder.mkdir()
    notes, other = write(folder, "notes", FACTS["lovelace"]), write(folder, "other", FACTS["hamilton"])
    rag = MemoRAG()
    rag.memorize([notes, other], store=store)
    chunks, revision = len(rag.retriever.chunks), read_manifest(store)["revision"]
    assert rag.memorize([notes], store=store) == {}  # unchanged: nothing memorized
    assert len(rag.documents) == 2 and len(rag.retriever.chunks) == chunks and len(rag.memory.segments) == 2
    assert read_manifest(store)["revision"] == revision  # nothing written
    other_before = segment_tensors(rag)[1]

    write(folder, "notes", FACTS["hopper"])  # the same path, new text
    rag.memorize([notes], store=store)
    loaded = MemoRAG.load(store)
    assert [d.source for d in loaded.documents] == [str(other), str(notes)]
    assert "Grace Hopper" in loaded.documents[1].text and len(loaded.memory.segments) == 2
    assert all(torch.equal(a, b) for a, b in zip(segment_tensors(loaded)[0], other_before, strict=True))
    assert not any("Lovelace" in c.text for c in loaded.retriever.chunks)

    replacement = write(tmp_path, "replacement", FACTS["lovelace"])
    loaded.replace(str(other), replacement, store=store)
    final = MemoRAG.load(store)
    assert [d.source for d in final.documents] == [str(notes), str(replacement)]
    assert sum(s.documents for s in final.memory.segments) == 2


def test_a_store_from_before_segments_loads_and_its_first_delete_memorizes_the_rest_again(files, tmp_path):
    import json

    from safetensors.torch import save_file

    store = tmp_path / "store"
    rag = MemoRAG()
    rag.memorize(list(files.values()), store=store)
    # rewrite the memory as the shared stream stores held before segments ("memorag-kv v1")
    manifest = read_manifest(store)
    folder = data_dir(store, manifest)
    memory = rag.memory
    tensors = {}
    for i, (k, v, s) in enumerate(zip(memory.keys, memory.values, memory.sources, strict=True)):
        tensors[f"keys.{i}"], tensors[f"values.{i}"] = k.half().contiguous(), v.half().contiguous()
        tensors[f"sources.{i}"] = s.int().contiguous()
    save_file(tensors, str(folder / "memory.safetensors"), metadata={"format": "memorag-kv v1"})
    state = {k: v for k, v in manifest["memory_state"].items() if k not in ("segment_list", "format", "segments")}
    (store / "manifest.json").write_text(json.dumps({**manifest, "memory_state": state}))

    old = MemoRAG.load(store)
    assert len(old.memory.segments) == 1 and old.memory.segments[0].documents == 3
    assert old.ask("Who wrote the Apollo software?", mode="rag", max_new_tokens=0).evidence
    old.delete(str(files["lovelace"]), store=store)
    upgraded = MemoRAG.load(store)
    assert [s.documents for s in upgraded.memory.segments] == [1, 1]
    assert read_manifest(store)["memory_state"]["format"] == "memorag-kv v2"


def test_the_docs_commands_list_delete_and_replace(files, tmp_path):
    store = tmp_path / "store"
    runner = CliRunner()
    result = runner.invoke(cli, ["memorize", *map(str, files.values()), "--store", str(store), "--json"])
    assert result.exit_code == 0, result.output
    listed = runner.invoke(cli, ["docs", "list", str(store)])
    assert listed.exit_code == 0 and all(str(p) in listed.output for p in files.values())
    deleted = runner.invoke(cli, ["docs", "delete", str(store), str(files["hopper"])])
    assert deleted.exit_code == 0, deleted.output
    assert "2 left" in deleted.output
    missing = runner.invoke(cli, ["docs", "delete", str(store), "nowhere.md"])
    assert missing.exit_code != 0 and "docs list" in missing.output
    new = write(tmp_path, "new", FACTS["hopper"])
    replaced = runner.invoke(cli, ["docs", "replace", str(store), str(files["lovelace"]), str(new)])
    assert replaced.exit_code == 0, replaced.output
    assert [row["source"] for row in read_manifest(store)["documents"]] == [str(files["hamilton"]), str(new)]


def paragraphs(name: str, count: int, code: str) -> str:
    items = ("crates", "barrels", "lamps", "ropes", "maps", "coins", "tools", "books")
    lines = [f"In the {name} ledger, entry {i} records {i * 3 + 1} {items[i % len(items)]} moved on day {i}."
             for i in range(count)]
    lines.insert(count - 5, f"The secret code word of the {name} ledger is {code}.")
    return "\n".join(lines)


@pytest.mark.slow
def test_a_store_larger_than_the_window_reads_the_documents_a_question_is_about(tmp_path):
    names = {"amber": "MARIGOLD", "cobalt": "PELICAN", "scarlet": "TANGERINE"}
    files = []
    for name, code in names.items():
        path = tmp_path / f"{name}.txt"
        path.write_text(paragraphs(name, 40, code))  # about 900 tokens each
        files.append(path)
    # beta 1 and a reserve of 5632 positions leave the segments about 2.4k of SmolLM2's 8k window: each document
    # fits alone, two fit together, three do not (the same routing as a store past 8k tokens, for a third the reading)
    rag = MemoRAG(MemoryConfig(beta=1, window=1024, reserve=5632))
    rag.memorize(files, store=tmp_path / "store")
    memory = rag.memory
    assert memory.needs_routing and len(memory.segments) == 3
    loaded = MemoRAG.load(tmp_path / "store")
    question = "What is the secret code word of the scarlet ledger?"
    present = loaded.focus(question)
    assert 2 in present and len(present) < 3
    assert loaded.memory.length <= loaded.memory.native_window - loaded.memory.config.reserve
    answer = loaded.ask(question, recall="none", max_new_tokens=0)
    assert any("TANGERINE" in p.text for p in answer.evidence)
    draft = loaded.ask(question, mode="memory", max_new_tokens=24)
    assert isinstance(draft.answer, str)
