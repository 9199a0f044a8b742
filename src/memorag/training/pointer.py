"""Pointer training for `attention` recall: teach the question's attention to land on the target sentence (issue 7).

`attention` recall (recall/attention.py) ranks chunks by the mass the question's queries put on each memory entry,
mapped back through `memory.sources` to the memorized tokens. This trains that mass directly. For an example
(context, question, target sentence of the context), the question is fed after the context's memory in the same
"answer" prompt attention recall uses; in every global layer the softmax attention of the question's tokens over
[memory entries, prompt tokens] is computed from their queries (with gradient) and the cached keys; the mass on the
entries whose source token lies inside the target sentence, averaged over layers, heads and question tokens, is m;
the loss is -log m. The denominator holds every other entry, so this is a contrastive loss over the memory: raising
the target's mass lowers everyone else's. m is exactly what attention recall sums over the target's tokens (before
its null-question calibration), which a test checks.

The memory is built under no_grad by the model being trained (training/memory_forward.py), so the LoRA weights
learn to *read* (queries of the question and keys of the prompt), not to write the memory. Examples come from the
`span` rows of a data directory (build-selfsup or build-data): their targets must occur in the context verbatim;
rows whose target does not (an answer string, say) are skipped.
Not here: the null-question term, chunk-level targets, negatives chosen by the retriever.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from memorag.config import MemoryConfig
from memorag.memory.kv import KVMemory
from memorag.memory.queries import capture_queries
from memorag.models import cache_argument
from memorag.recall.attention import global_layers, memory_attention, question_prompt
from memorag.recall.stream import memorized_stream
from memorag.training import data
from memorag.training.loop import TrainOptions, train_loop
from memorag.types import Document

EPSILON = 1e-9  # floor of the target mass inside the log


@dataclass(frozen=True)
class PointerExample:
    """The prompt fed after the memory, the prompt rows whose queries count, and [first, end) of the target's
    tokens in the memorized stream (the indices `memory.sources` holds)."""

    prompt_ids: list[int]
    rows: list[int]
    first: int
    end: int


def target_tokens(tokenizer: Any, frame: Any, context: str, target: str, source: str = "context"
                  ) -> tuple[int, int] | None:
    """[first, end) stream indices of the tokens that start inside the first occurrence of `target` in `context`,
    when the context is memorized alone as one document named `source`; None when it does not occur."""
    at = context.find(target)
    if at < 0 or not target.strip():
        return None
    stream = memorized_stream(tokenizer, frame.prefix, [Document(source, context)])
    inside = np.flatnonzero((stream.doc == 0) & (stream.start >= at) & (stream.start < at + len(target)))
    return (int(inside[0]), int(inside[-1]) + 1) if len(inside) else None


def encode_pointer(tokenizer: Any, frame: Any, context_id: str, context: str, question: str, target: str,
                   attention_query: str = "question") -> PointerExample | None:
    span = target_tokens(tokenizer, frame, context, target, context_id)
    if span is None:
        return None
    prompt_ids, rows = question_prompt(tokenizer, frame, question, attention_query)
    return PointerExample(prompt_ids, rows, *span)


def pointer_examples(directory: Path, tokenizer: Any, frame: Any, contexts: Mapping[str, str],
                     tasks: Sequence[str] = ("span",)) -> dict[str, list[PointerExample]]:
    """Pointer examples of a data directory's SFT rows of `tasks`, grouped by context id; each line of a
    multi-line target is its own example. Targets that are not in their context are skipped."""
    groups: dict[str, list[PointerExample]] = {}
    for row in data.read_jsonl(Path(directory) / data.SFT_FILE):
        context = contexts.get(row["id"])
        if row["task"] not in tasks or context is None:
            continue
        for line in (part.strip() for part in row["target"].split("\n")):
            example = encode_pointer(tokenizer, frame, row["id"], context, row["question"], line) if line else None
            if example is not None:
                groups.setdefault(row["id"], []).append(example)
    return groups


def target_mass(model: Any, memory: KVMemory, example: PointerExample, layers: Sequence[int]) -> torch.Tensor:
    """The question's attention mass on the target's memory entries, averaged over `layers`, query heads and the
    example's rows: a scalar in (0, 1), differentiable in the weights that make the prompt's queries and keys."""
    from transformers import DynamicCache

    length, count = memory.length, len(example.prompt_ids)
    device = memory.keys[0].device
    cache = DynamicCache(ddp_cache_data=list(zip(memory.keys, memory.values)))  # the prompt's keys are appended
    positions = torch.arange(length, length + count, device=device)[None]
    with capture_queries(model, count, keep_grad=True) as captured:
        model.model(input_ids=torch.tensor([example.prompt_ids], device=device), position_ids=positions,
                    **cache_argument(model.model, cache), use_cache=True)
    masses = []
    for layer in layers:
        keys = cache.layers[layer].keys[0]  # (H_kv, M + P, d)
        probs = memory_attention(captured.get(layer)[:, example.rows], keys, captured.scaling(layer), length,
                                 example.rows)  # (H_q, R, M)
        sources = memory.sources[layer].repeat_interleave(probs.shape[0] // keys.shape[0], dim=0)  # (H_q, M)
        inside = ((sources >= example.first) & (sources < example.end)).to(probs.dtype)
        masses.append((probs * inside[:, None, :]).sum(dim=-1).mean())
    return torch.stack(masses).mean()


def pointer_step(model: Any, memory: KVMemory, examples: Sequence[PointerExample]) -> dict[str, float]:
    """Mean of -log(target mass) over the context's examples, each backpropagated at once."""
    layers = global_layers(model)
    total, mass_sum = 0.0, 0.0
    for example in examples:
        mass = target_mass(model, memory, example, layers)
        loss = -torch.log(mass.clamp_min(EPSILON)) / len(examples)
        loss.backward()
        total += loss.detach().item()
        mass_sum += mass.detach().item()
    return {"loss": total, "target_mass": mass_sum / len(examples)}


def train_pointer(policy: Any, tokenizer: Any, memory_config: MemoryConfig, contexts: Mapping[str, str],
                  groups: Mapping[str, Sequence[PointerExample]], options: TrainOptions, progress: bool = False
                  ) -> dict[str, Any]:
    """Train the LoRA weights of `policy` in place on pointer examples grouped by context id."""
    if not any(groups.values()):
        raise ValueError("no pointer example: no span target of the data occurs verbatim in its context")
    metrics = train_loop(policy, tokenizer, memory_config, contexts, groups, pointer_step, options, progress,
                         "pointer")
    return {"examples": sum(len(g) for g in groups.values()), "contexts": len(groups), **metrics}
