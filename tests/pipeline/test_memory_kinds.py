"""Every memory kind end to end on the real embedded models: memorize, clues, ask, store round trip, info."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from memorag import GenerationConfig, MemoRAG, MemoryConfig
from memorag.cli import cli
from memorag.demo import reference_slice

pytestmark = pytest.mark.slow

NEEDLE = "The harbour master of Quillon keeps the tide ledger in a green iron chest."
QUESTION = "Where does the harbour master of Quillon keep the tide ledger?"


@pytest.fixture(scope="module")
def text() -> str:
    reference = reference_slice(6_000, first_topic="pass")  # about 1.3k tokens
    middle = reference.index("\n\n", len(reference) // 2)
    return reference[:middle] + "\n\n" + NEEDLE + reference[middle:]


@pytest.mark.parametrize("kind", ["gist", "full", "none"])
def test_kind_memorizes_recalls_answers_and_round_trips(kind, text, tmp_path):
    store = tmp_path / kind
    rag = MemoRAG(MemoryConfig(kind=kind, gist_chunk_tokens=512, gist_tokens=24, max_clue_tokens=24),
                  generation=GenerationConfig(max_new_tokens=16))
    timings = rag.memorize(text, store=store)
    described = rag.memory.describe()
    assert described["kind"] == kind
    if kind == "gist":
        assert timings["gist"] > 0 and described["gists"] >= 2
        assert described["tokens_read"] < 1_400  # the gists are shorter than the text they summarize
    if kind == "full":
        assert described["beta"] == 1 and described["entries"] == described["tokens_read"]
    answer = rag.ask(QUESTION, mode="memorag", recall="generate")
    assert answer.clues and all(clue.text.strip() for clue in answer.clues)
    assert any("green iron chest" in passage.text for passage in answer.evidence)
    loaded = MemoRAG.load(store, generation=GenerationConfig(max_new_tokens=16))
    assert loaded.memory.kind == kind and loaded.memory.describe()["entries"] == described["entries"]
    assert [c.text for c in loaded.memory.clues(QUESTION, ("answer",))] == [
        c.text for c in rag.memory.clues(QUESTION, ("answer",))
    ]
    shown = CliRunner().invoke(cli, ["info", str(store), "--json"])
    assert shown.exit_code == 0, shown.output
    manifest = json.loads(shown.stdout)
    assert manifest["memory"]["kind"] == kind
    if kind == "gist":
        assert len(manifest["gists"]) == described["gists"]
        assert manifest["gists"][0]["text"] and manifest["gists"][0]["source"] == rag.documents[0].source
