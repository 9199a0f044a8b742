"""Per-document memory segments on a tiny random Llama: independence, removal, layout, routing, old stores."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from memorag.config import MemoryConfig
from memorag.errors import MemoryBudgetError
from memorag.memory.kv import ROUTED_BETA, KVMemory
from memorag.memory.rope import inverse_frequencies, rotate
from memorag.memory.segments import segment_from_bytes, segment_to_bytes
from memorag.types import Document

A = Document("a.txt", "Ada Lovelace wrote the first published program for the engine. " * 2)
B = Document("b.txt", "Grace Hopper built the A-0 compiler in nineteen fifty two. " * 2)
C = Document("c.txt", "Margaret Hamilton led the Apollo flight software team. " * 2)


def memory_of(tiny_llama, documents, **overrides) -> KVMemory:
    settings = {"beta": 2, "window": 16, "reserve": 32, "observation": 4, "max_clue_tokens": 6, **overrides}
    memory = KVMemory(MemoryConfig(**settings), *tiny_llama)
    for batch in documents:
        memory.memorize(batch)
    return memory


def same_segments(first, second) -> bool:
    return len(first) == len(second) and all(
        torch.equal(x, y)
        for a, b in zip(first, second)
        for x, y in zip([*a.keys, *a.values, *a.sources], [*b.keys, *b.values, *b.sources])
    )


def test_each_document_is_its_own_segment_whatever_the_batches(tiny_llama):
    together = memory_of(tiny_llama, [[A, B]])
    apart = memory_of(tiny_llama, [[A], [B]])
    assert len(together.segments) == 2
    assert same_segments(together.segments, apart.segments)  # B never attends to A
    assert together.tokens_read == together.protected + sum(s.tokens for s in together.segments)
    assert together.length == together.entries


def test_layout_moves_a_segment_by_the_entries_before_it(tiny_llama):
    memory = memory_of(tiny_llama, [[A, B]])
    first = memory.segments[0].entries
    start = memory.protected + first
    inv_freq = inverse_frequencies(memory.model)
    for layer, keys in enumerate(memory.keys):
        laid = keys[:, :, start:]
        back = rotate(laid, torch.full(laid.shape[:-1], -first), inv_freq[layer])
        assert torch.allclose(back, memory.segments[1].keys[layer].float(), atol=1e-5)  # held in float16
    # sources index the stream prefix + a + b: b's entries come after a's tokens
    b_sources = memory.sources[0][:, start:]
    assert int(b_sources.min()) >= memory.protected + memory.segments[0].tokens
    assert int(memory.sources[0].max()) < memory.tokens_read


def test_segments_read_elsewhere_at_the_planned_betas_equal_memorize(tiny_llama):
    """What a Ray worker does (memorag.distributed): the driver plans, another memory reads, the driver adds."""
    driver, worker = memory_of(tiny_llama, [[A]], beta=None), memory_of(tiny_llama, [], beta=None)
    betas = driver.plan([B, C])  # the batch's betas, chosen beside what the driver holds
    segments = [worker.read_segments([d], [beta])[0] for d, beta in zip([B, C], betas, strict=True)]
    assert worker.segments == []  # reading changes nothing
    driver.add_segments([segment_from_bytes(*segment_to_bytes(s)) for s in segments])
    assert same_segments(driver.segments, memory_of(tiny_llama, [[A], [B, C]], beta=None).segments)


def test_a_segment_round_trips_through_bytes_exactly(tiny_llama):
    (segment,) = memory_of(tiny_llama, [[A]]).segments
    counts, data = segment_to_bytes(segment)
    assert isinstance(data, bytes) and counts["tokens"] == segment.tokens and counts["beta"] == 2
    back = segment_from_bytes(counts, data)
    assert same_segments([back], [segment]) and back.keys[0].dtype == segment.keys[0].dtype


def test_removing_a_document_leaves_the_others_byte_identical(tiny_llama):
    memory = memory_of(tiny_llama, [[A, B, C]])
    kept, dropped = [memory.segments[0], memory.segments[2]], memory.segments[1]
    before = memory.entries
    assert memory.remove([1]) is True
    assert same_segments(memory.segments, kept)
    assert memory.entries == before - dropped.entries
    alone = memory_of(tiny_llama, [[A, C]])
    for mine, theirs in zip(memory.keys, alone.keys):
        assert torch.equal(mine, theirs)
    assert memory.generate("answer", question="who?") == alone.generate("answer", question="who?")
    with pytest.raises(ValueError, match="no memorized document"):
        memory.remove([5])


def test_segments_round_trip_through_a_save(tiny_llama, tmp_path):
    memory = memory_of(tiny_llama, [[A], [B]])
    state = memory.save(tmp_path)
    loaded = KVMemory.load(tmp_path, state, memory.config, *tiny_llama)
    assert same_segments(loaded.segments, memory.segments)
    assert loaded.protected == memory.protected and loaded.tokens_read == memory.tokens_read
    assert loaded.generate("answer", question="who?") == memory.generate("answer", question="who?")


def test_a_shared_stream_memory_from_before_segments_loads_and_refuses_to_lose_one_document(tiny_llama, tmp_path):
    memory = memory_of(tiny_llama, [[A, B]])
    keys, values, sources = memory.keys, memory.values, memory.sources
    tensors = {}
    for i, (k, v, s) in enumerate(zip(keys, values, sources)):
        tensors[f"keys.{i}"], tensors[f"values.{i}"] = k.half().contiguous(), v.half().contiguous()
        tensors[f"sources.{i}"] = s.int().contiguous()
    save_file(tensors, str(tmp_path / "memory.safetensors"), metadata={"format": "memorag-kv v1"})
    state = {"kind": "kv", "beta": 2, "tokens_read": memory.tokens_read, "protected": memory.protected,
             "entries": memory.entries, "documents": 2}
    old = KVMemory.load(tmp_path, state, memory.config, *tiny_llama)
    assert len(old.segments) == 1 and old.segments[0].documents == 2
    assert torch.equal(old.keys[1], memory.keys[1].half().to(old.keys[1].dtype))
    assert old.generate("answer", question="who?") == memory.generate("answer", question="who?")
    assert old.remove([0]) is False and len(old.segments) == 1  # nothing dropped: memorize the rest again
    old.memorize([C])  # appending still works: a new segment after the old stream
    assert len(old.segments) == 2 and old.tokens_read > memory.tokens_read


def test_documents_that_do_not_fit_together_are_routed_per_question(tiny_llama):
    long = [Document(f"{n}.txt", f"Document {n} says the code word is {n * 7}. " * 6) for n in range(4)]
    memory = memory_of(tiny_llama, [long], beta=1)  # ~300 tokens each at beta 1: one or two fit at a time
    assert memory.needs_routing and memory.describe()["routed"]
    assert all(segment.beta == 1 for segment in memory.segments)
    present = memory.focus([3, 0])
    assert 3 in present and memory.length <= memory.native_window - memory.config.reserve
    assert memory.sources[0].max() >= memory.protected + sum(s.tokens for s in memory.segments[:3])
    assert memory.generate("answer", question="code word?") is not None
    assert 2 in memory.focus([2])
    with pytest.raises(MemoryBudgetError):
        memory.memorize([Document("huge.txt", "word " * 400)])  # alone it does not fit at beta 1


def test_documents_routed_with_an_automatic_beta_are_compressed_at_least_routed_beta(tiny_llama):
    first = Document("first.txt", "The first file fills the window uncompressed. " * 5)
    later = [Document(f"{n}.txt", f"Document {n} says the code word is {n * 7}. " * 6) for n in range(2)]
    memory = memory_of(tiny_llama, [[first], later], beta=None)  # the first fits whole; the later ones do not
    assert memory.segments[0].beta == 1  # a memory that fits keeps the smallest ratio
    assert [segment.beta for segment in memory.segments[1:]] == [ROUTED_BETA, ROUTED_BETA]
    fixed = memory_of(tiny_llama, [[first], later], beta=1)  # a fixed beta is taken as given
    assert all(segment.beta == 1 for segment in fixed.segments)
    assert fixed.needs_routing and memory.entries < fixed.entries


def test_a_memory_that_fits_keeps_every_segment_whatever_the_focus(tiny_llama):
    memory = memory_of(tiny_llama, [[A, B, C]])
    assert not memory.needs_routing
    assert memory.focus([2]) == (0, 1, 2)
    assert memory.length == memory.entries
