"""The training forward on a tiny random Llama: the loss is on target tokens only, read after the memory as at
inference (teacher-forced decoding after the memory cache gives the same log-probabilities)."""

from __future__ import annotations

import pytest
import torch

from memorag.memory.prompts import prompt_frame
from memorag.models import cache_argument
from memorag.training.memory_forward import (
    EncodedExample,
    MemoryExample,
    build_memory,
    encode_example,
    end_of_target,
    target_logprobs,
)

CONTEXT = "The tide ledger is kept in a green iron chest by the harbour master. " * 3


@pytest.fixture
def memory(tiny, tiny_memory):
    model, tokenizer = tiny
    return build_memory(model, tokenizer, tiny_memory, CONTEXT)


def test_encoding_keeps_prompt_and_target_apart_and_ends_the_target(tiny):
    _, tokenizer = tiny
    frame = prompt_frame(tokenizer)
    encoded = encode_example(tokenizer, frame, MemoryExample("c", "Question: where?", "in a chest"), 4)
    assert encoded.prompt_ids == tokenizer("Question: where?")["input_ids"]
    assert encoded.target_ids == tokenizer("in a")["input_ids"] + end_of_target(tokenizer, frame)
    assert end_of_target(tokenizer, frame) == tokenizer("\n")["input_ids"]  # a base model's clue ends at a newline


def test_logprobs_equal_teacher_forced_decoding_after_the_memory(tiny, memory):
    model, _ = tiny
    example = EncodedExample(prompt_ids=[5, 6, 7, 8, 9], target_ids=[10, 11, 12])
    with torch.no_grad():
        got = target_logprobs(model, memory, example)
        # As KVMemory.generate runs: the prompt after the memory at compact positions, then one token at a time.
        cache = memory._question_cache()
        position, inputs, expected = memory.length, example.prompt_ids, []
        for token in example.target_ids:
            positions = torch.arange(position, position + len(inputs))[None]
            logits = model(input_ids=torch.tensor([inputs]), position_ids=positions, **cache_argument(model, cache)).logits
            expected.append(logits[0, -1].float().log_softmax(-1)[token])
            position, inputs = position + len(inputs), [token]
    assert got.shape == (3,)
    assert torch.allclose(got, torch.stack(expected), atol=1e-5)


def test_loss_equals_the_label_masked_loss_of_transformers(tiny, memory):
    model, _ = tiny
    from transformers import DynamicCache

    example = EncodedExample(prompt_ids=[20, 21, 22, 23], target_ids=[30, 31, 32, 33, 34])
    ids = example.prompt_ids + example.target_ids
    labels = [-100] * len(example.prompt_ids) + example.target_ids  # prompt tokens masked out
    with torch.no_grad():
        cache = DynamicCache(ddp_cache_data=list(zip(memory.keys, memory.values)))
        positions = torch.arange(memory.length, memory.length + len(ids))[None]
        reference = model(input_ids=torch.tensor([ids]), position_ids=positions, **cache_argument(model, cache),
                          labels=torch.tensor([labels])).loss
        ours = -target_logprobs(model, memory, example).mean()
    assert torch.allclose(ours, reference, atol=1e-5)
    assert memory.keys[0].shape[2] == memory.length  # the memory itself is left as it was


def test_gradient_reaches_the_weights_but_not_the_memory(tiny, memory):
    model, _ = tiny
    model.zero_grad()
    target_logprobs(model, memory, EncodedExample(prompt_ids=[40, 41, 42], target_ids=[50, 51])).sum().backward()
    assert model.model.layers[0].self_attn.k_proj.weight.grad.abs().sum() > 0
    assert not any(t.requires_grad for t in memory.keys + memory.values)  # built under no_grad: a constant


def test_an_empty_prompt_is_refused(tiny, memory):
    model, _ = tiny
    with pytest.raises(ValueError, match="prompt is empty"):
        target_logprobs(model, memory, EncodedExample(prompt_ids=[], target_ids=[5]))


def test_target_logprobs_do_not_depend_on_later_target_tokens(tiny, memory):
    model, _ = tiny
    with torch.no_grad():
        first = target_logprobs(model, memory, EncodedExample([5, 6, 7], [10, 11, 12]))
        other = target_logprobs(model, memory, EncodedExample([5, 6, 7], [10, 11, 40]))
    assert torch.allclose(first[:2], other[:2], atol=1e-6) and not torch.isclose(first[2], other[2])
