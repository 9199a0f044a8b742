"""The compressed KV memory on a tiny random Llama: parity with the plain cache, compression, save/load."""

from __future__ import annotations

import pytest
import torch

from memorag.config import MemoryConfig
from memorag.errors import MemoryBudgetError, NotMemorizedError, StoreCorruptError
from memorag.memory.compressors import kept_count
from memorag.memory.kv import KVMemory, choose_beta, document_header
from memorag.memory.prompts import prompt_frame
from memorag.models import cache_argument
from memorag.types import Document

TEXT = "Memory reads the context window by window and keeps a compressed cache of it. " * 2


def make_memory(tiny_llama, **overrides) -> KVMemory:
    settings = {"beta": 1, "window": 16, "reserve": 32, "observation": 4, "max_clue_tokens": 6, **overrides}
    model, tokenizer = tiny_llama
    return KVMemory(MemoryConfig(**settings), model, tokenizer)


def stream_ids(memory: KVMemory, text: str) -> list[int]:
    tokenizer = memory.tokenizer
    return tokenizer(prompt_frame(tokenizer).prefix)["input_ids"] + tokenizer(document_header(Document("a", text)) + text)["input_ids"]


@torch.no_grad()
def question_logits(memory: KVMemory, question: list[int]) -> torch.Tensor:
    positions = torch.arange(memory.length, memory.length + len(question))[None]
    cache = memory._question_cache()
    out = memory.model(input_ids=torch.tensor([question]), position_ids=positions, **cache_argument(memory.model, cache))
    return out.logits[0]


@pytest.mark.parametrize("compressor", ["snapkv", "mean", "recent"])
def test_beta_one_equals_the_plain_full_cache(tiny_llama, compressor):
    memory = make_memory(tiny_llama, compressor=compressor)
    memory.memorize([Document("a", TEXT)])
    stream = stream_ids(memory, TEXT)
    assert memory.length == memory.tokens_read == len(stream)
    question = [5, 6, 7, 8]
    with torch.no_grad():
        plain = memory.model(input_ids=torch.tensor([stream + question])).logits[0, -len(question):]
    compressed = question_logits(memory, question)
    # Windowed prefill + un-rotate/re-rotate at beta 1 must reproduce the one-pass cache (float16 rounding aside).
    assert torch.allclose(compressed, plain, atol=2e-3), (compressed - plain).abs().max()
    assert torch.equal(memory.sources[0][0], torch.arange(len(stream)))


@pytest.mark.parametrize("compressor", ["snapkv", "mean"])
def test_beta_four_keeps_a_quarter_and_the_prefix(tiny_llama, compressor):
    memory = make_memory(tiny_llama, beta=4, compressor=compressor)
    memory.memorize([Document("a", TEXT)])
    stream = stream_ids(memory, TEXT)
    document = len(stream) - memory.protected  # the prefix is read once, on its own, and kept whole
    expected = memory.protected + sum(kept_count(min(16, document - start), 0, 4) for start in range(0, document, 16))
    assert memory.length == expected < len(stream)
    for sources in memory.sources:
        assert sources.shape == (2, expected)  # (H_kv, entries)
        assert torch.all(sources[:, 1:] > sources[:, :-1])  # in source order, per head
        assert torch.equal(sources[0, : memory.protected], torch.arange(memory.protected))
    compressed = question_logits(memory, [5, 6, 7])
    assert torch.isfinite(compressed).all()


def test_compression_changes_the_memory_and_beta_one_is_closer(tiny_llama):
    question = [9, 10, 11]
    stream = stream_ids(make_memory(tiny_llama), TEXT)
    with torch.no_grad():
        plain = tiny_llama[0](input_ids=torch.tensor([stream + question])).logits[0, -3:]
    errors = {}
    for beta in (1, 8):
        memory = make_memory(tiny_llama, beta=beta)
        memory.memorize([Document("a", TEXT)])
        errors[beta] = float((question_logits(memory, question) - plain).abs().max())
    assert errors[1] < errors[8]


def test_append_continues_the_memory(tiny_llama):
    memory = make_memory(tiny_llama, beta=2)
    memory.memorize([Document("a", TEXT)])
    first_length, first_read = memory.length, memory.tokens_read
    memory.memorize([Document("b", "A second document joins the same memory.")])
    assert memory.length > first_length and memory.tokens_read > first_read
    assert int(memory.sources[0].max()) >= first_read  # entries from the second document joined


def test_generate_is_deterministic_and_leaves_the_memory_as_it_was(tiny_llama):
    memory = make_memory(tiny_llama)
    memory.memorize([Document("a", TEXT)])
    length = memory.length
    first = memory.generate("answer", question="what?")
    assert memory._question_cache().layers[0].keys.shape[2] == length
    assert memory.generate("answer", question="what?") == first


def test_query_before_memorize(tiny_llama):
    with pytest.raises(NotMemorizedError, match="memorize"):
        make_memory(tiny_llama).answer("anything?")


def test_save_and_load_round_trip(tiny_llama, tmp_path):
    memory = make_memory(tiny_llama, beta=4)
    memory.memorize([Document("a", TEXT)])
    state = memory.save(tmp_path)
    loaded = KVMemory.load(tmp_path, state, memory.config, *tiny_llama)
    assert loaded.length == memory.length and loaded.beta == 4 and loaded.protected == memory.protected
    for a, b in zip(memory.sources, loaded.sources):
        assert torch.equal(a, b)
    assert torch.equal(question_logits(memory, [3, 4]), question_logits(loaded, [3, 4]))


def test_truncated_memory_file_is_refused(tiny_llama, tmp_path):
    memory = make_memory(tiny_llama)
    memory.memorize([Document("a", TEXT)])
    state = memory.save(tmp_path)
    path = tmp_path / state["file"]
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(StoreCorruptError, match="memorize again"):
        KVMemory.load(tmp_path, state, memory.config, *tiny_llama)


def test_choose_beta_picks_the_smallest_that_fits_and_refuses_what_cannot():
    config = MemoryConfig(window=2048, reserve=768)
    assert choose_beta(3000, 0, config, 8192) == 1
    assert choose_beta(30_000, 0, config, 8192) == 8
    assert choose_beta(60_000, 0, config, 8192) == 16
    with pytest.raises(MemoryBudgetError, match="beta 16 or more"):
        choose_beta(60_000, 0, MemoryConfig(beta=8), 8192)
    with pytest.raises(MemoryBudgetError, match="split"):
        choose_beta(10_000_000, 0, config, 8192)


def test_segments_are_held_in_float16_and_laid_out_in_the_models_dtype(tiny_llama, tmp_path):
    memory = make_memory(tiny_llama, beta=4)
    memory.memorize([Document("a", TEXT), Document("b", TEXT[::-1])])
    held = [t for s in memory.segments for t in (*s.keys, *s.values)] + [*memory.prefix.keys, *memory.prefix.values]
    assert {t.dtype for t in held} == {torch.float16}  # half the RAM of float32: a large memory is gigabytes
    assert {k.dtype for k in memory.keys} == {memory.model.dtype} == {torch.float32}
    loaded = KVMemory.load(tmp_path, memory.save(tmp_path), memory.config, *tiny_llama)
    assert all(torch.equal(a, b) for a, b in zip(loaded.segments[1].keys, memory.segments[1].keys, strict=True))
    assert torch.equal(question_logits(loaded, [5, 6, 7]), question_logits(memory, [5, 6, 7]))
