"""RLGF: reinforcement learning from generation feedback (MemoRAG section 2.3.2, stage 2), as DPO on clue pairs.

build-data samples several clue sets per (question, task), retrieves and answers with each, and ranks them by the
answer's F1: the best is *chosen*, the worst *rejected*. Here the memory model learns to prefer the chosen one
with Direct Preference Optimization (Rafailov et al. 2023, eq. 7):

    loss = -log sigmoid(beta * ((log pi(c) - log ref(c)) - (log pi(r) - log ref(r))))

where log pi(y) sums the target log-probabilities of clue text y after the task prompt, read through the
compressed memory exactly as in SFT (memory_forward.py). The reference is the same model with its adapter
disabled (peft's `disable_adapter()`): the base model, also when training starts from an SFT adapter, so the KL
anchor is the base weights. Reference log-probabilities do not change during training and are computed once,
each from the reference's own memory of the context. TRL's DPOTrainer cannot feed a custom KV memory between
prompt and context, hence this loop. An optional `sft_weight` adds the chosen clue's token-mean NLL (RPO-style).
Not here: the paper's pairwise ranking loss over more than two candidates, online resampling.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from memorag.config import MemoryConfig
from memorag.memory.kv import KVMemory
from memorag.memory.prompts import prompt_frame
from memorag.training.loop import TrainOptions, train_loop
from memorag.training.memory_forward import (
    EncodedExample,
    MemoryExample,
    build_memory,
    encode_example,
    target_logprobs,
)


@dataclass(frozen=True)
class PreferencePair:
    """Two answers to the same prompt after the same context's memory; `chosen` led to the better answer."""

    context_id: str
    prompt: str
    chosen: str
    rejected: str


@dataclass(frozen=True)
class EncodedPair:
    chosen: EncodedExample
    rejected: EncodedExample
    reference_chosen: float = 0.0  # log ref(chosen), summed over its tokens
    reference_rejected: float = 0.0


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, reference_chosen: float,
             reference_rejected: float, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, margin): the DPO loss of one pair and beta times its log-ratio difference (the implicit reward gap)."""
    margin = beta * ((policy_chosen - reference_chosen) - (policy_rejected - reference_rejected))
    return -F.logsigmoid(margin), margin.detach()


def encode_pairs(tokenizer: Any, pairs: Sequence[PreferencePair], max_target_tokens: int
                 ) -> dict[str, list[EncodedPair]]:
    """Pairs tokenized and grouped by context id (reference log-probabilities still 0: see with_reference)."""
    frame = prompt_frame(tokenizer)
    groups: dict[str, list[EncodedPair]] = {}
    for pair in pairs:
        chosen, rejected = (encode_example(tokenizer, frame, MemoryExample(pair.context_id, pair.prompt, text),
                                           max_target_tokens) for text in (pair.chosen, pair.rejected))
        groups.setdefault(pair.context_id, []).append(EncodedPair(chosen, rejected))
    return groups


def with_reference(policy: Any, tokenizer: Any, memory_config: MemoryConfig, contexts: Mapping[str, str],
                   groups: Mapping[str, Sequence[EncodedPair]], progress: bool = False) -> dict[str, list[EncodedPair]]:
    """The pairs with their reference log-probabilities: the model with its adapter disabled, its own memory."""
    from tqdm.auto import tqdm

    model = policy.get_base_model()
    done: dict[str, list[EncodedPair]] = {}
    with policy.disable_adapter(), torch.no_grad():
        for context_id in tqdm(list(groups), desc="reference", unit="context", disable=not progress):
            memory = build_memory(model, tokenizer, memory_config, contexts[context_id], context_id)
            done[context_id] = [
                EncodedPair(pair.chosen, pair.rejected,
                            float(target_logprobs(model, memory, pair.chosen).sum()),
                            float(target_logprobs(model, memory, pair.rejected).sum()))
                for pair in groups[context_id]
            ]
    return done


def make_dpo_step(beta: float, sft_weight: float = 0.0) -> Any:
    def dpo_step(model: Any, memory: KVMemory, pairs: Sequence[EncodedPair]) -> dict[str, float]:
        loss_sum, margins = 0.0, []
        for pair in pairs:
            chosen = target_logprobs(model, memory, pair.chosen)
            rejected = target_logprobs(model, memory, pair.rejected)
            loss, margin = dpo_loss(chosen.sum(), rejected.sum(), pair.reference_chosen, pair.reference_rejected,
                                    beta)
            if sft_weight:
                loss = loss - sft_weight * chosen.mean()
            (loss / len(pairs)).backward()
            loss_sum += loss.detach().item()
            margins.append(float(margin))
        return {"loss": loss_sum / len(pairs), "margin": sum(margins) / len(margins),
                "accuracy": sum(m > 0 for m in margins) / len(margins)}

    return dpo_step


def train_rlgf(
    policy: Any, tokenizer: Any, memory_config: MemoryConfig, contexts: Mapping[str, str],
    pairs: Sequence[PreferencePair], options: TrainOptions, beta: float = 0.1, sft_weight: float = 0.0,
    progress: bool = False,
) -> dict[str, Any]:
    """DPO on the LoRA weights of `policy` (a PeftModel) in place; returns loss, margin and accuracy history."""
    if not pairs:
        raise ValueError("no preference pairs: every question's candidates scored alike; sample more candidates "
                         "(build-data --candidates) or use more examples")
    if beta <= 0:
        raise ValueError(f"the DPO beta must be positive, not {beta}")
    groups = encode_pairs(tokenizer, pairs, options.max_target_tokens)
    groups = with_reference(policy, tokenizer, memory_config, contexts, groups, progress)
    step = make_dpo_step(beta, sft_weight)
    metrics = train_loop(policy, tokenizer, memory_config, contexts, groups, step, options, progress, "rlgf")
    return {"pairs": len(pairs), "contexts": len(groups), **metrics}
