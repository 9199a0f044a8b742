"""Memory kinds full, gist, none and the `recent` compressor, on a tiny random Llama or a fake generator."""

from __future__ import annotations

import itertools

import pytest
import torch

from memorag.config import MemoryConfig
from memorag.errors import MemoryBudgetError, NotMemorizedError, StoreCorruptError
from memorag.memory import load_memory, make_memory
from memorag.memory.compressors import RecentCompressor, WindowKV
from memorag.memory.gist import split_by_tokens
from memorag.types import Document

TEXT = "Memory reads the context window by window and keeps a compressed cache of it. " * 2
SMALL = {"window": 16, "reserve": 32, "observation": 4, "max_clue_tokens": 6}


def tiny(tiny_llama, **overrides):
    model, tokenizer = tiny_llama
    return make_memory(MemoryConfig(**{**SMALL, **overrides}), model=model, tokenizer=tokenizer)


def test_recent_keeps_the_protected_head_and_the_window_tail():
    h_kv, length, dim = 2, 10, 4
    keys = torch.randn(h_kv, length, dim)
    protected = torch.zeros(length, dtype=torch.bool)
    protected[:2] = True
    window = WindowKV(keys=keys, raw_keys=keys, values=keys + 1, sources=torch.arange(100, 110), protected=protected)
    kept = RecentCompressor().compress(window, beta=4)  # 2 protected + ceil(8 / 4) = 2 recent
    assert kept.sources.tolist() == [[100, 101, 108, 109]] * h_kv
    assert torch.equal(kept.values[0, 2:], keys[0, 8:] + 1)


def test_full_is_beta_one_whatever_the_config_says_and_refuses_what_does_not_fit(tiny_llama, tmp_path):
    memory = tiny(tiny_llama, kind="full", beta=8)
    memory.memorize([Document("a", TEXT)])
    assert memory.beta == 1 and memory.length == memory.tokens_read
    state = memory.save(tmp_path)
    assert state["kind"] == "full"
    loaded = load_memory(tmp_path, state, MemoryConfig(**SMALL, kind="full"), None, *tiny_llama)
    assert loaded.kind == "full" and loaded.describe()["entries"] == memory.length
    with pytest.raises(MemoryBudgetError, match="kind 'full'"):
        tiny(tiny_llama, kind="full").memorize([Document("b", TEXT * 4)])  # > 512 positions


def test_split_by_tokens_covers_the_text_in_pieces_of_about_the_size(tiny_llama):
    text = "First sentence here. Second one follows.\nA new line starts. " * 5
    spans = split_by_tokens(text, tiny_llama[1], 40)  # one token a character
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))  # contiguous, nothing lost
    assert all(20 < end - start <= 40 for start, end in spans[:-1])
    assert sum(text[end - 1] in ".\n" for _, end in spans[:-1]) >= len(spans) // 2  # mostly at sentence ends


def test_gist_memory_writes_one_gist_a_piece_and_round_trips(tiny_llama, tmp_path):
    memory = tiny(tiny_llama, kind="gist", gist_chunk_tokens=60, gist_tokens=8)
    documents = [Document("a.txt", TEXT), Document("b.txt", "Another short text about gists. " * 3)]
    timings = memory.memorize(documents)
    assert set(timings) == {"gist", "memory_prefill"}
    pieces = [len(split_by_tokens(d.text, memory.inner.tokenizer, 60)) for d in documents]
    assert len(memory.gists) == sum(pieces)
    assert [g.source for g in memory.gists] == ["a.txt"] * pieces[0] + ["b.txt"] * pieces[1]
    assert all(g.text for g in memory.gists)
    assert memory.inner.tokens_read > 0 and memory.describe()["gists"] == len(memory.gists)
    state = memory.save(tmp_path)
    config = MemoryConfig(**SMALL, kind="gist", gist_chunk_tokens=60, gist_tokens=8)
    loaded = load_memory(tmp_path, state, config, None, *tiny_llama)
    assert loaded.gists == memory.gists
    assert torch.equal(loaded.inner.keys[0], memory.inner.keys[0])
    (tmp_path / "gists.json").write_text("[]")
    with pytest.raises(StoreCorruptError, match="gists"):
        load_memory(tmp_path, state, config, None, *tiny_llama)
    # per document: removing a.txt drops its gists and its segment, b.txt's stay as they were
    kept = [g for g in memory.gists if g.source == "b.txt"]
    b_keys = memory.inner.segments[1].keys[0]
    assert memory.remove([0]) is True
    assert memory.gists == kept and memory.sources == ["b.txt"] and len(memory.inner.segments) == 1
    assert torch.equal(memory.inner.segments[0].keys[0], b_keys)


class EchoGenerator:
    """Fake generator: records the messages and answers with fixed lines."""

    model_id = "fake"
    context_window = 1000

    def __init__(self) -> None:
        self.seen: list[list[dict[str, str]]] = []

    def generate(self, messages, *, max_new_tokens=128, temperature=0.0):
        self.seen.append(messages)
        return "1. The vault code is 4172.\n2. Harwick keeps the archive."


def test_none_memory_asks_the_generator_without_context(tmp_path):
    generator = EchoGenerator()
    memory = make_memory(MemoryConfig(kind="none"), generator=generator)
    with pytest.raises(NotMemorizedError):
        memory.recall("What is the vault code?")
    memory.memorize([Document("a", "A secret context the generator must never see.")])
    clues = memory.clues("What is the vault code?", ("span", "answer"))
    assert [c.text for c in clues] == ["The vault code is 4172.", "Harwick keeps the archive.",
                                       "The vault code is 4172."]
    assert all("secret" not in m["content"] for call in generator.seen for m in call)
    assert memory.summarize() == []
    state = memory.save(tmp_path)
    assert load_memory(tmp_path, state, MemoryConfig(kind="none"), generator).documents == 1


def test_registry_refuses_unknown_kinds_and_a_kind_that_disagrees_with_the_state(tmp_path):
    with pytest.raises(ValueError, match="memory kind"):
        MemoryConfig(kind="episodic")
    with pytest.raises(ValueError, match="generator"):
        make_memory(MemoryConfig(kind="none"))
    with pytest.raises(StoreCorruptError, match="damaged"):
        load_memory(tmp_path, {"kind": "gist"}, MemoryConfig(kind="kv"))
