"""End to end on the real embedded models (SmolLM2-135M-Instruct, all-MiniLM-L6-v2): memorize, ask, store."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from memorag import MemoRAG, MemoryConfig, StoreMismatchError
from memorag.demo import reference_slice

pytestmark = pytest.mark.slow

NEEDLE = "The lighthouse keeper's secret password is blue-walrus-42."
QUESTION = "What is the lighthouse keeper's secret password?"


@pytest.fixture(scope="module")
def long_text() -> str:
    text = reference_slice(40_000)  # about 9.5k SmolLM2 tokens: longer than its 8,192-token window
    middle = text.index("\n\n", len(text) // 2)
    return text[:middle] + "\n\n" + NEEDLE + text[middle:]


@pytest.fixture(scope="module")
def built(long_text: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[MemoRAG, Path]:
    store = tmp_path_factory.mktemp("stores") / "reference"
    rag = MemoRAG(MemoryConfig(beta=16))
    rag.memorize(long_text, store=store)
    return rag, store


def test_longer_than_the_window_at_beta_16_answers_a_needle_in_the_middle(built):
    rag, _ = built
    described = rag.memory.describe()
    assert described["tokens_read"] > described["native_window"]
    assert described["beta"] == 16 and described["entries"] < described["tokens_read"] / 8
    answer = rag.ask(QUESTION, recall="generate")
    assert answer.mode == "memorag" and answer.clues
    assert all(clue.text.strip() for clue in answer.clues)
    assert any("blue-walrus-42" in passage.text for passage in answer.evidence)
    assert "walrus" in answer.answer.lower()
    for passage in answer.evidence:  # offsets point at the text the passage holds
        document = rag.documents[passage.chunk.doc_id].text
        assert document[passage.chunk.start : passage.chunk.end] == passage.text
    assert set(answer.timings) == {"recall", "retrieve", "judge", "generate"}


def test_store_round_trip_in_a_new_process_gives_the_same_answer(built):
    rag, store = built
    here = rag.ask(QUESTION, mode="memory").answer
    script = (
        "import json, sys; from memorag import MemoRAG; "
        f"print(json.dumps(MemoRAG.load(sys.argv[1]).ask({QUESTION!r}, mode='memory').answer))"
    )
    out = subprocess.run([sys.executable, "-c", script, str(store)], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == here


def test_store_refuses_another_memory_model(built, tmp_path):
    _, store = built
    manifest = json.loads((store / "manifest.json").read_text())
    manifest["models"]["memory"]["fingerprint"] = "sha256:another-model"
    copy = tmp_path / "copy"
    shutil.copytree(store, copy)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreMismatchError, match="memory"):
        MemoRAG.load(copy)


def test_modes_and_summarize_run_on_the_real_models(built):
    rag, _ = built
    rag_answer = rag.ask(QUESTION, mode="rag")
    assert rag_answer.evidence and not rag_answer.clues
    summary = rag.summarize(points=3)
    assert summary.answer.strip() and summary.clues


def test_multi_document_store_appends(built, tmp_path):
    rag = MemoRAG()
    rag.memorize(["Die Hauptstadt von Österreich ist Wien. Sie liegt an der Donau.", "東京は日本の首都です。"])
    first_entries = rag.memory.length
    rag.memorize("A third document about llamas: they hum to each other.", store=tmp_path / "multi")
    assert rag.memory.length > first_entries
    assert [d.source for d in rag.documents] == ["text-0", "text-1", "text-2"]
    loaded = MemoRAG.load(tmp_path / "multi")
    assert len(loaded.documents) == 3 and {c.doc_id for c in loaded.retriever.chunks} == {0, 1, 2}
    hit = loaded.ask("Welche Stadt ist die Hauptstadt von Österreich?", mode="rag").evidence
    assert hit and "Wien" in hit[0].text


def test_a_rag_question_imports_no_torch_and_the_memory_is_read_on_first_use(built):
    _, store = built
    script = (
        "import sys; from memorag import MemoRAG; rag = MemoRAG.load(sys.argv[1]); "
        f"answer = rag.ask({QUESTION!r}, mode='rag', max_new_tokens=8); "
        "print(bool(answer.evidence), 'torch' in sys.modules); rag.memory; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", script, str(store)], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[-3:-1] == ["True False", "True"]


def test_a_truncated_memory_fails_the_load_and_a_store_replaced_before_first_use_is_followed_whole(built, tmp_path):
    from memorag import StoreCorruptError

    _, store = built
    damaged = tmp_path / "damaged"
    shutil.copytree(store, damaged)
    memory_file = next(damaged.glob("data-*/memory.safetensors"))
    memory_file.write_bytes(memory_file.read_bytes()[:100_000])
    with pytest.raises(StoreCorruptError, match="memory.safetensors is unreadable"):
        MemoRAG.load(damaged)

    copy = tmp_path / "copy"
    shutil.copytree(store, copy)
    reader = MemoRAG.load(copy)
    MemoRAG.load(copy).memorize("A llama hums to the other llamas of its herd.", store=copy)  # the old revision goes
    assert len(reader.documents) == 1
    segments = reader.memory.describe()  # read now: from the store's current revision, documents and index too
    assert len(reader.documents) == 2 and {c.doc_id for c in reader.retriever.chunks} == {0, 1}
    assert segments["segments"] == 2  # one per document
