"""Teacher-forced log-probabilities of target tokens read after a compressed KV memory: the training forward.

At inference (`KVMemory.generate`) a task prompt is fed after the memory at compact positions M, M+1, ... and the
clue is decoded token by token (memory/decoding.py). Training feeds the same prompt followed by the target tokens
in one forward pass at the same positions, over a cache that holds the memory, and keeps the log-probability of
each target token only: that is the loss mask, by construction (prompt tokens are input, never predicted).

The memory is built beforehand by the same model (adapter included) under no_grad, exactly as `memorize` builds it.
So gradients reach the LoRA weights through the prompt's and the target's own queries, keys and values, and
through the queries that read the memory; they do not reach how the memory was written (the prefill of the
context and SnapKV's choice of entries are not differentiable here). The model learns to read its memory, and
the memory it reads is refreshed from the current weights every time an example is visited.
Not here: batching several examples into one forward pass, gradient through the memory prefill.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from memorag.config import MemoryConfig
from memorag.memory.kv import KVMemory, stop_ids
from memorag.memory.prompts import PromptFrame
from memorag.models import cache_argument
from memorag.types import Document


@dataclass(frozen=True)
class MemoryExample:
    """One training example: a context (by id), the text read after its memory, and the text the loss is on."""

    context_id: str
    prompt: str  # fed after the memory, e.g. PromptFrame.task_suffix("span", question=...)
    target: str  # the answer the model should write (a clue, a sentence of the context, ...)


@dataclass(frozen=True)
class EncodedExample:
    prompt_ids: list[int]
    target_ids: list[int]  # the target's tokens and the token that ends it


def end_of_target(tokenizer: Any, frame: PromptFrame) -> list[int]:
    """The tokens decoding stops on after a target: the end of turn of a chat model, a line break for a base one."""
    if not frame.chat:
        return list(tokenizer("\n", add_special_tokens=False)["input_ids"])[-1:]
    for marker in ("<|im_end|>", "<end_of_turn>", "<|eot_id|>"):
        token = tokenizer.convert_tokens_to_ids(marker)
        if isinstance(token, int) and token != tokenizer.unk_token_id:
            return [token]
    stops = sorted(stop_ids(tokenizer))
    return stops[:1]


def encode_example(tokenizer: Any, frame: PromptFrame, example: MemoryExample, max_target_tokens: int = 128
                   ) -> EncodedExample:
    """Prompt and target tokenized apart, as at inference (the prompt is tokenized alone, then decoding adds
    tokens one by one); the target is cut to `max_target_tokens` before its end token."""
    prompt = list(tokenizer(example.prompt, add_special_tokens=False)["input_ids"])
    target = list(tokenizer(example.target, add_special_tokens=False)["input_ids"])[:max_target_tokens]
    return EncodedExample(prompt, target + end_of_target(tokenizer, frame))


def build_memory(model: Any, tokenizer: Any, config: MemoryConfig, context: str, source: str = "context"
                 ) -> KVMemory:
    """The context's KV memory, memorized by `model` in eval mode (no dropout) and without gradient."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            memory = KVMemory(config, model, tokenizer)
            memory.memorize([Document(source, context)])
    finally:
        model.train(was_training)
    return memory


def target_logprobs(model: Any, memory: KVMemory, example: EncodedExample) -> torch.Tensor:
    """log p(target token | memory, prompt, earlier target tokens), shape (T,), differentiable in the weights."""
    from transformers import DynamicCache

    if not example.prompt_ids:
        raise ValueError("the prompt is empty: the first target token needs a prompt token to be predicted from")
    ids = example.prompt_ids + example.target_ids
    device = memory.keys[0].device
    cache = DynamicCache(ddp_cache_data=list(zip(memory.keys, memory.values)))  # new tensors are appended, the
    positions = torch.arange(memory.length, memory.length + len(ids), device=device)[None]  # memory stays as is
    out = model(input_ids=torch.tensor([ids], device=device), position_ids=positions, **cache_argument(model, cache),
                use_cache=True, logits_to_keep=len(example.target_ids) + 1)
    logits = out.logits[0, :-1].float()  # (T, V): the logit at the last prompt token predicts target token 0
    targets = torch.tensor(example.target_ids, device=device)[:, None]  # (T, 1)
    return logits.log_softmax(-1).gather(-1, targets)[:, 0]

