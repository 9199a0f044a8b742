"""The training loop shared by SFT and RLGF: one optimizer step per context, its memory rebuilt each visit.

Examples are grouped by context. A step memorizes the context with the current weights (no gradient, see
memory_forward.py), runs the stage's loss over every example of that context (each one backpropagated at once,
so only one example's graph is alive), clips the gradient and steps AdamW on the trainable (LoRA) parameters.
Contexts are visited in a seeded shuffled order, epoch after epoch, up to `max_steps`.
Not here: learning-rate schedules, mixed precision, several contexts per step, distributed training.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from memorag.config import MemoryConfig
from memorag.memory.kv import KVMemory
from memorag.training.memory_forward import build_memory

# (model, memory, the context's items) -> metrics of the step, among them "loss"; the function calls backward().
StepLoss = Callable[[Any, KVMemory, Sequence[Any]], dict[str, float]]


@dataclass(frozen=True)
class TrainOptions:
    epochs: int = 1
    max_steps: int | None = None  # stop after this many steps (contexts), whatever the epochs
    learning_rate: float = 2e-4
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    max_target_tokens: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, not {self.epochs}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, not {self.max_steps}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, not {self.learning_rate}")


def step_order(context_ids: Sequence[str], options: TrainOptions) -> list[str]:
    """Context ids in the order they are trained on: each epoch a new seeded shuffle, cut at max_steps."""
    order: list[str] = []
    for epoch in range(options.epochs):
        shuffled = list(context_ids)
        random.Random(options.seed * 1_000_003 + epoch).shuffle(shuffled)
        order += shuffled
    return order[: options.max_steps] if options.max_steps else order


def train_loop(
    policy: Any, tokenizer: Any, memory_config: MemoryConfig, contexts: Mapping[str, str],
    groups: Mapping[str, Sequence[Any]], step_loss: StepLoss, options: TrainOptions, progress: bool = False,
    desc: str = "train",
) -> dict[str, Any]:
    """Train `policy` (a PeftModel) in place; returns per-step metrics and their first and last means."""
    from tqdm.auto import tqdm

    torch.manual_seed(options.seed)
    model = policy.get_base_model()  # the decoder with LoRA layers inside: what KVMemory and the forward call
    trainable = [p for p in policy.parameters() if p.requires_grad]
    if not trainable:
        raise ValueError("the model has no trainable parameters: wrap it with add_lora or load_trainable")
    optimizer = torch.optim.AdamW(trainable, lr=options.learning_rate, weight_decay=options.weight_decay)
    order = step_order([cid for cid in groups if groups[cid]], options)
    history: list[dict[str, float]] = []
    started = time.perf_counter()
    for context_id in tqdm(order, desc=desc, unit="step", disable=not progress, dynamic_ncols=True):
        memory = build_memory(model, tokenizer, memory_config, contexts[context_id], context_id)
        model.train()
        optimizer.zero_grad(set_to_none=True)
        metrics = step_loss(model, memory, groups[context_id])
        metrics["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(trainable, options.max_grad_norm))
        optimizer.step()
        history.append(metrics)
    model.eval()
    return summarize_history(history, time.perf_counter() - started)


def summarize_history(history: Sequence[dict[str, float]], seconds: float) -> dict[str, Any]:
    """Steps, seconds and, per metric, the mean over the first and over the last quarter of the steps."""
    span = max(1, math.ceil(len(history) / 4))
    summary: dict[str, Any] = {"steps": len(history), "seconds": round(seconds, 1)}
    for key in dict.fromkeys(k for row in history for k in row):
        values = [row[key] for row in history if key in row]
        summary[f"{key}_first"] = round(sum(values[:span]) / len(values[:span]), 4)
        summary[f"{key}_last"] = round(sum(values[-span:]) / len(values[-span:]), 4)
    summary["history"] = [{k: round(v, 4) for k, v in row.items()} for row in history]
    return summary
