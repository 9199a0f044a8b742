"""Pointer training on a tiny random Llama: target tokens map back into the memorized stream, the trained mass is
what attention recall sums over the target (at beta 1 and compressed), and a few steps raise it."""

from __future__ import annotations

import json
from dataclasses import replace
from itertools import pairwise

import pytest
import torch

from memorag.memory.prompts import prompt_frame
from memorag.recall import RecallConfig
from memorag.recall.attention import AttentionRecall, global_layers
from memorag.recall.stream import memorized_stream
from memorag.training import data
from memorag.training.adapters import LoraSettings, add_lora
from memorag.training.loop import TrainOptions
from memorag.training.memory_forward import build_memory
from memorag.training.pointer import (
    encode_pointer,
    pointer_examples,
    pointer_step,
    target_mass,
    target_tokens,
    train_pointer,
)
from memorag.types import Document

CONTEXT = ("Quillon is a small port. The harbour master keeps the tide ledger in a green iron chest. "
           "Ferries leave at dawn. The lighthouse was rebuilt in 1910.")
TARGET = "The harbour master keeps the tide ledger in a green iron chest."
QUESTION = "Where is the tide ledger kept?"


def test_target_tokens_are_the_targets_tokens_in_the_memorized_stream(tiny):
    _, tokenizer = tiny
    frame = prompt_frame(tokenizer)
    first, end = target_tokens(tokenizer, frame, CONTEXT, TARGET, "ctx")
    stream = memorized_stream(tokenizer, frame.prefix, [Document("ctx", CONTEXT)])
    assert CONTEXT[int(stream.start[first]): int(stream.start[end - 1]) + 1] == TARGET  # one character per token
    assert target_tokens(tokenizer, frame, CONTEXT, "not in the text", "ctx") is None


@pytest.mark.parametrize("beta", [1, 2])
def test_the_trained_mass_is_what_attention_recall_sums_over_the_target(tiny, tiny_memory, beta):
    model, tokenizer = tiny
    config = replace(tiny_memory, beta=beta)
    memory = build_memory(model, tokenizer, config, CONTEXT, "ctx")
    example = encode_pointer(tokenizer, memory.frame, "ctx", CONTEXT, QUESTION, TARGET)
    with torch.no_grad():
        mass = float(target_mass(model, memory, example, global_layers(model)))
    token_mass = AttentionRecall(RecallConfig(null_weight=0.0)).token_mass(memory, QUESTION)
    assert mass == pytest.approx(float(token_mass[example.first: example.end].sum()), rel=1e-4)
    assert 0.0 < mass < 1.0


def test_steps_on_one_memory_raise_the_mass_on_the_target(tiny, tiny_memory):
    """The gradient points the right way: on a fixed memory each step raises the target's mass. (The training
    loop rebuilds the memory from the changed weights at every step, which on a random tiny model adds noise.)"""
    model, tokenizer = tiny
    policy = add_lora(model, LoraSettings(rank=4, alpha=8, dropout=0.0))
    decoder = policy.get_base_model()
    memory = build_memory(decoder, tokenizer, tiny_memory, CONTEXT, "ctx")
    example = encode_pointer(tokenizer, memory.frame, "ctx", CONTEXT, QUESTION, TARGET)
    optimizer = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=1e-2)
    decoder.train()
    masses = []
    for _ in range(6):
        optimizer.zero_grad()
        masses.append(pointer_step(decoder, memory, [example])["target_mass"])
        optimizer.step()
    assert all(later > earlier for earlier, later in pairwise(masses))


def test_train_pointer_reads_span_rows_and_changes_the_adapter(tiny, tiny_memory, tmp_path):
    model, tokenizer = tiny
    (tmp_path / data.SFT_FILE).write_text("".join(json.dumps(row) + "\n" for row in [
        {"id": "ctx", "task": "span", "question": QUESTION, "target": TARGET, "source": "test"},
        {"id": "ctx", "task": "span", "question": "When?", "target": "not in the context", "source": "test"},
        {"id": "ctx", "task": "answer", "question": QUESTION, "target": "a green iron chest", "source": "test"},
    ]), encoding="utf-8")
    groups = pointer_examples(tmp_path, tokenizer, prompt_frame(tokenizer), {"ctx": CONTEXT})
    assert {k: len(v) for k, v in groups.items()} == {"ctx": 1}  # the absent target and the answer task skipped
    policy = add_lora(model, LoraSettings(rank=4, alpha=8, dropout=0.0))
    before = {n: p.detach().clone() for n, p in policy.named_parameters() if "lora_B" in n}
    metrics = train_pointer(policy, tokenizer, tiny_memory, {"ctx": CONTEXT}, groups,
                            TrainOptions(epochs=3, learning_rate=1e-2, seed=0))
    assert metrics["steps"] == 3 and metrics["examples"] == 1
    assert 0.0 < metrics["target_mass_first"] < 1.0 and metrics["grad_norm_first"] > 0.0
    assert any(not torch.equal(before[n], p) for n, p in policy.named_parameters() if "lora_B" in n)
    with pytest.raises(ValueError, match="no pointer example"):
        train_pointer(policy, tokenizer, tiny_memory, {"ctx": CONTEXT}, {}, TrainOptions())
