"""RLGF's DPO on a tiny random Llama: the loss's algebra, the reference is the adapter-free model, and a few steps
raise the chosen clue's margin over the rejected one."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from memorag.memory.prompts import prompt_frame
from memorag.training.adapters import LoraSettings, add_lora
from memorag.training.loop import TrainOptions
from memorag.training.memory_forward import build_memory, target_logprobs
from memorag.training.rlgf import PreferencePair, dpo_loss, encode_pairs, train_rlgf, with_reference

CONTEXTS = {"a": "The harbour master keeps the tide ledger in a green iron chest near the north quay. " * 2}


def pairs(tokenizer) -> list[PreferencePair]:
    prompt = prompt_frame(tokenizer).task_suffix("span", question="Where is the tide ledger?")
    return [PreferencePair("a", prompt, "a green iron chest", "the ledger is lost"),
            PreferencePair("a", prompt, "near the north quay", "nobody knows")]


def test_dpo_loss_is_log_two_at_the_reference_and_falls_with_the_margin():
    zero = torch.tensor(0.0)
    loss, margin = dpo_loss(zero - 3, zero - 5, -3.0, -5.0, beta=0.1)
    assert math.isclose(float(loss), math.log(2), rel_tol=1e-6) and float(margin) == 0
    better, margin = dpo_loss(zero - 2, zero - 6, -3.0, -5.0, beta=0.1)  # chosen up, rejected down
    assert float(better) < math.log(2) and math.isclose(float(margin), 0.2, rel_tol=1e-5)


def test_reference_logprobs_are_those_of_the_model_without_adapter(tiny, tiny_llama, tiny_memory):
    model, tokenizer = tiny
    policy = add_lora(model, LoraSettings(rank=4, alpha=8, dropout=0.0))
    with torch.no_grad():  # move the adapter away from its no-op start, so disabling it matters
        for name, parameter in policy.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.5)
    groups = with_reference(policy, tokenizer, tiny_memory, CONTEXTS, encode_pairs(tokenizer, pairs(tokenizer), 32))
    base = copy.deepcopy(tiny_llama[0])
    memory = build_memory(base, tokenizer, tiny_memory, CONTEXTS["a"], source="a")  # "### a" heads the text
    with torch.no_grad():
        for pair in groups["a"]:
            assert math.isclose(pair.reference_chosen, float(target_logprobs(base, memory, pair.chosen).sum()),
                                rel_tol=1e-5)
            assert math.isclose(pair.reference_rejected, float(target_logprobs(base, memory, pair.rejected).sum()),
                                rel_tol=1e-5)
    adapted = build_memory(policy.get_base_model(), tokenizer, tiny_memory, CONTEXTS["a"], "a")  # adapter on
    with torch.no_grad():
        policy_chosen = float(target_logprobs(policy.get_base_model(), adapted, groups["a"][0].chosen).sum())
    assert not math.isclose(policy_chosen, groups["a"][0].reference_chosen, rel_tol=1e-3)


def test_a_few_dpo_steps_prefer_the_chosen_clue(tiny, tiny_memory):
    model, tokenizer = tiny
    policy = add_lora(model, LoraSettings(rank=4, alpha=8, dropout=0.0))
    metrics = train_rlgf(policy, tokenizer, tiny_memory, CONTEXTS, pairs(tokenizer),
                         TrainOptions(epochs=6, learning_rate=1e-2), beta=0.5)
    assert metrics["steps"] == 6 and metrics["pairs"] == 2
    assert metrics["history"][0]["loss"] == pytest.approx(math.log(2), abs=1e-4)  # policy == reference at start
    assert metrics["margin_last"] > metrics["margin_first"] and metrics["loss_last"] < metrics["loss_first"]
    assert metrics["accuracy_last"] == 1.0


def test_no_pairs_is_an_error_that_says_what_to_do(tiny, tiny_memory):
    model, tokenizer = tiny
    policy = add_lora(model, LoraSettings(rank=4))
    with pytest.raises(ValueError, match="--candidates"):
        train_rlgf(policy, tokenizer, tiny_memory, CONTEXTS, [], TrainOptions())
