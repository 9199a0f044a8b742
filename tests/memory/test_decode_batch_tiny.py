"""Batched decoding over one shared memory (decode_batch, SharedRowsCache, Memory.clues) on tiny random models:
every row writes what the one-prompt path writes, token for token, and the memory is left as it was."""

from __future__ import annotations

import pytest
import torch

from memorag.config import MemoryConfig
from memorag.memory import make_memory
from memorag.memory.base import CLUE_KINDS, collect_clues
from memorag.memory.decoding import DecodeOptions, crop, decode, decode_batch
from memorag.memory.shared_cache import SharedRowsCache
from memorag.models import cache_argument
from memorag.types import Document

TEXT = "Memory reads the context window by window and keeps a compressed cache of it. " * 2
PROMPTS = [[5, 6, 7, 8, 9], [10, 11], [12, 13, 14, 15, 16, 17, 18, 19, 20]]  # three lengths
MEMORY = 40


def llama(attention: str):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=99,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        attn_implementation=attention,
    )
    return LlamaForCausalLM(config).eval()


def gemma(sliding_window: int):
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(0)
    config = Gemma3TextConfig(
        vocab_size=99,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=512,
        sliding_window=sliding_window,
        layer_types=["sliding_attention", "full_attention"],
        attn_implementation="sdpa",
    )
    return Gemma3ForCausalLM(config).eval()


@torch.no_grad()
def memory_cache(model):
    from transformers import DynamicCache

    cache = DynamicCache()
    model(
        input_ids=torch.randint(2, 99, (1, MEMORY), generator=torch.Generator().manual_seed(1)),
        **cache_argument(model, cache),
        use_cache=True,
    )
    return DynamicCache(ddp_cache_data=[(layer.keys, layer.values) for layer in cache.layers])


def one_by_one(model, cache, prompts, stops, options):
    rows = []
    for prompt in prompts:
        rows.append(decode(model, cache, prompt, MEMORY, stops, options))
        crop(cache, MEMORY)
    return rows


@pytest.mark.parametrize(
    "model",
    [llama("sdpa"), llama("eager"), gemma(512), gemma(6)],
    ids=["sdpa", "eager", "gemma", "gemma-window-6"],
)
def test_every_row_writes_what_decode_writes_alone(model):
    cache = memory_cache(model)
    keys = [layer.keys.clone() for layer in cache.layers]
    options = DecodeOptions(max_new_tokens=12)
    alone = one_by_one(model, cache, PROMPTS, set(), options)
    assert decode_batch(model, cache, PROMPTS, MEMORY, set(), options) == alone
    stop = {alone[1][3]}  # row 1 stops after three tokens, the others go on (or stop where `decode` does)
    early = one_by_one(model, cache, PROMPTS, stop, options)
    assert len(early[1]) == 3 and max(len(row) for row in early) > 3
    assert decode_batch(model, cache, PROMPTS, MEMORY, stop, options) == early
    assert all(torch.equal(layer.keys, k) for layer, k in zip(cache.layers, keys))  # the memory is untouched


def test_seeded_sampling_and_an_empty_cache_match_decode():
    from transformers import DynamicCache

    model = llama("sdpa")
    cache = memory_cache(model)
    sampled = DecodeOptions(max_new_tokens=10, temperature=0.7, seed=3, repetition_penalty=1.3)
    assert decode_batch(model, cache, PROMPTS, MEMORY, set(), sampled) == one_by_one(
        model, cache, PROMPTS, set(), sampled
    )
    options = DecodeOptions(max_new_tokens=8)
    without_memory = [decode(model, DynamicCache(), prompt, 0, set(), options) for prompt in PROMPTS]
    assert decode_batch(model, DynamicCache(), PROMPTS, 0, set(), options) == without_memory
    assert decode_batch(model, cache, PROMPTS, MEMORY, set(), DecodeOptions(max_new_tokens=0)) == [[], [], []]


@torch.no_grad()
def test_rows_share_the_memory_storage_and_get_the_plain_cache_logits():
    model = llama("sdpa")
    cache = memory_cache(model)
    rows = SharedRowsCache(model, cache, capacity=16, start_position=MEMORY)
    seen, update = [], rows.layers[0].update

    def recording(*args, **kwargs):
        keys, values = update(*args, **kwargs)
        seen.append(keys)
        return keys, values

    rows.layers[0].update = recording
    firsts = []
    for row, prompt in enumerate(PROMPTS[:2]):  # prefilled one by one, as decode_batch does
        positions = torch.arange(MEMORY, MEMORY + len(prompt))[None]
        out = model(
            input_ids=torch.tensor([prompt]),
            position_ids=positions,
            attention_mask=rows.feed([row], positions),
            **cache_argument(model, rows),
            use_cache=True,
        )
        firsts.append(out.logits[0, -1])
    step = torch.tensor([[30], [31]])  # one new token each, as one batch of two rows
    positions = torch.tensor([[MEMORY + len(PROMPTS[0])], [MEMORY + len(PROMPTS[1])]])
    batched = model(
        input_ids=step,
        position_ids=positions,
        attention_mask=rows.feed([0, 1], positions),
        **cache_argument(model, rows),
        use_cache=True,
    ).logits[:, -1]
    layer = rows.layers[0]
    keys = seen[-1]  # what attention got for the step: (B, H_kv, L, d)
    assert keys.shape[0] == 2 and keys.stride(0) == 0  # one storage for both rows: a view, not a copy per row
    assert keys.data_ptr() == layer._keys.data_ptr()
    assert layer.keys.shape[2] == MEMORY + len(PROMPTS[0]) + len(PROMPTS[1]) + 2
    for row, prompt in enumerate(PROMPTS[:2]):
        plain = model(
            input_ids=torch.tensor([prompt + [30 + row]]),
            position_ids=torch.arange(MEMORY, MEMORY + len(prompt) + 1)[None],
            **cache_argument(model, cache),
            use_cache=True,
        ).logits[0]
        crop(cache, MEMORY)
        assert torch.allclose(firsts[row], plain[-2], atol=1e-5)
        assert torch.allclose(batched[row], plain[-1], atol=1e-5)


def tiny_memory(tiny_llama, kind: str):
    model, tokenizer = tiny_llama
    config = MemoryConfig(
        kind=kind,
        beta=1 if kind != "kv" else 2,
        window=16,
        reserve=32,
        observation=4,
        max_clue_tokens=10,
        gist_chunk_tokens=60,
        gist_tokens=8,
    )
    memory = make_memory(config, model=model, tokenizer=tokenizer)
    memory.memorize([Document("a.txt", TEXT)])
    return memory


@pytest.mark.parametrize("kind", ["kv", "full", "gist"])
def test_batched_clues_equal_the_sequential_clues_and_leave_the_memory(tiny_llama, kind):
    memory = tiny_memory(tiny_llama, kind)
    reader = memory.inner if kind == "gist" else memory
    question = "Who keeps the cache?"
    sequential = collect_clues(memory, question, CLUE_KINDS)
    assert memory.clues(question) == sequential and len(sequential) >= 3
    assert (
        reader._question_cache().get_seq_length() == reader.length
    )  # a second question sees the same memory
    assert memory.clues("What is read window by window?") == collect_clues(
        memory, "What is read window by window?"
    )
    assert memory.clues(question, ["answer", "span"]) == collect_clues(memory, question, ["answer", "span"])
    assert memory.clues(question, []) == []
    with pytest.raises(ValueError, match="unknown clue kind"):
        memory.clues(question, ["span", "summary"])


def test_a_clue_row_that_stops_early_leaves_the_others_as_they_were(tiny_llama):
    memory = tiny_memory(tiny_llama, "kv")
    question = "Who keeps the cache?"
    options = DecodeOptions(max_new_tokens=10)
    prompt = memory._task_prompt("question", options, {"question": question})
    tokens = decode(memory.model, memory._question_cache(), prompt, memory.length, memory._stops, options)
    crop(memory._question_cache(), memory.length)
    first_new = next(i for i in range(2, len(tokens)) if tokens[i] not in tokens[:i])
    memory._stops = memory._stops | {tokens[first_new]}  # the "question" row now stops early
    before = [memory.generate(kind, question=question) for kind in CLUE_KINDS]
    assert before[1] == memory.tokenizer.decode(tokens[:first_new]).strip()
    assert memory.generate_batch([(kind, {"question": question}) for kind in CLUE_KINDS]) == before
    assert memory.clues(question) == collect_clues(memory, question, CLUE_KINDS)
