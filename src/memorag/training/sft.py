"""Supervised fine-tuning of the memory model to write clues from its memory (MemoRAG section 2.3.2, stage 1).

Each example is (context, task prompt, target): the context reaches the model through its compressed KV memory,
as at inference; the loss is the mean negative log-likelihood of the target tokens (their end-of-turn token
included, so the model learns where a clue stops), nothing on the prompt. Generic: any (context, prompt, target)
examples train this way, e.g. gold evidence sentences for the "span" task or self-supervised span recall.
Not here: packing several targets into one forward pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from memorag.config import MemoryConfig
from memorag.memory.kv import KVMemory
from memorag.memory.prompts import prompt_frame
from memorag.training.loop import TrainOptions, train_loop
from memorag.training.memory_forward import EncodedExample, MemoryExample, encode_example, target_logprobs


def group_encoded(tokenizer: Any, examples: Sequence[MemoryExample], max_target_tokens: int
                  ) -> dict[str, list[EncodedExample]]:
    """Examples tokenized and grouped by context id, in the order contexts first appear."""
    frame = prompt_frame(tokenizer)
    groups: dict[str, list[EncodedExample]] = {}
    for example in examples:
        groups.setdefault(example.context_id, []).append(encode_example(tokenizer, frame, example, max_target_tokens))
    return groups


def sft_step(model: Any, memory: KVMemory, examples: Sequence[EncodedExample]) -> dict[str, float]:
    """Token-mean NLL of every target after the memory; each example's share is backpropagated at once."""
    tokens = sum(len(example.target_ids) for example in examples)
    total = 0.0
    for example in examples:
        loss = -target_logprobs(model, memory, example).sum() / tokens
        loss.backward()
        total += loss.detach().item()
    return {"loss": total, "target_tokens": float(tokens)}


def train_sft(
    policy: Any, tokenizer: Any, memory_config: MemoryConfig, contexts: Mapping[str, str],
    examples: Sequence[MemoryExample], options: TrainOptions, progress: bool = False,
) -> dict[str, Any]:
    """Fine-tune the LoRA weights of `policy` (a PeftModel) in place; returns the loss history and its summary."""
    missing = sorted({e.context_id for e in examples} - set(contexts))
    if missing:
        raise ValueError(f"no context for id(s) {', '.join(missing[:5])}: the data directory is incomplete")
    groups = group_encoded(tokenizer, examples, options.max_target_tokens)
    metrics = train_loop(policy, tokenizer, memory_config, contexts, groups, sft_step, options, progress, "sft")
    return {"examples": len(examples), "contexts": len(groups), **metrics}
