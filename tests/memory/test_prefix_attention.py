"""The split memorize attention (memory unmasked + window causal, merged by log-sum-exp) equals sdpa's."""

from __future__ import annotations

import torch
from transformers import DynamicCache

from memorag.config import MemoryConfig
from memorag.memory import prefix_attention
from memorag.memory.kv import KVMemory
from memorag.models import cache_argument
from memorag.types import Document


def _window_logits(model, memory_length: int, split: bool) -> torch.Tensor:
    torch.manual_seed(1)
    layers = [(torch.randn(1, 2, memory_length, 8), torch.randn(1, 2, memory_length, 8))
              for _ in model.model.layers]
    ids = torch.randint(2, 90, (1, 37))
    positions = torch.arange(memory_length, memory_length + 37)[None]
    cache = DynamicCache(ddp_cache_data=layers) if memory_length else DynamicCache()
    with torch.no_grad(), (prefix_attention.window_after_memory(model, memory_length) if split
                           else torch.no_grad()):
        return model(input_ids=ids, position_ids=positions, **cache_argument(model, cache), use_cache=True).logits


def test_split_attention_equals_sdpa(tiny_llama) -> None:
    model, _ = tiny_llama
    assert prefix_attention.usable(model)
    for memory_length in (0, 1, 50):
        assert torch.allclose(_window_logits(model, memory_length, True), _window_logits(model, memory_length, False),
                              atol=1e-5)
    assert model.config._attn_implementation == "sdpa"  # restored


def test_calls_that_do_not_match_fall_back_to_sdpa(tiny_llama) -> None:
    model, _ = tiny_llama
    torch.manual_seed(2)
    ids = torch.randint(2, 90, (1, 20))
    with torch.no_grad():
        plain = model(input_ids=ids).logits
        with prefix_attention.window_after_memory(model, 7):  # claims a memory this call does not have
            inside = model(input_ids=ids).logits
    assert torch.allclose(plain, inside, atol=1e-6)


def test_memorize_stores_the_same_memory_either_way(tiny_llama, monkeypatch) -> None:
    model, tokenizer = tiny_llama
    text = "the keeper of the lighthouse counted ships every winter night " * 6

    def memorize() -> KVMemory:
        memory = KVMemory(MemoryConfig(beta=4, window=64, observation=8, reserve=32, max_clue_tokens=6),
                          model, tokenizer)
        memory.memorize([Document("a", text)])
        return memory

    split = memorize()
    monkeypatch.setattr(prefix_attention, "usable", lambda model: False)
    plain = memorize()
    assert split.length == plain.length
    for a, b in zip(split.keys + split.values, plain.keys + plain.values):
        assert torch.allclose(a, b, atol=1e-4)
    assert all(torch.equal(a, b) for a, b in zip(split.sources, plain.sources))
