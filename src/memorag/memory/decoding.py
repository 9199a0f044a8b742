"""Token generation on top of a memory cache, with positions continuing after the memory's compact positions.

transformers' `generate()` would infer positions from the physical cache length; we place positions ourselves
so the code stays right for any memory layout. Greedy by default (deterministic); sampling with a seed for
training data. Not here: beam search, batching several prompts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class DecodeOptions:
    max_new_tokens: int = 128
    temperature: float = 0.0  # 0: greedy
    repetition_penalty: float = 1.15  # on tokens already generated (CTRL-style); 1.0 disables
    seed: int = 0


@torch.no_grad()
def decode(
    model: Any,
    cache: Any,
    prompt_ids: list[int],
    start_position: int,
    stop_ids: set[int],
    options: DecodeOptions,
) -> list[int]:
    """Feed `prompt_ids` after the cache, then generate; the caller crops the cache back afterwards."""
    generator = torch.Generator().manual_seed(options.seed)  # CPU: a seed samples alike on any device
    device = model.device
    inputs = torch.tensor([prompt_ids], device=device)
    position = start_position
    generated: list[int] = []
    for _ in range(options.max_new_tokens):
        positions = torch.arange(position, position + inputs.shape[1], device=device)[None]
        out = model(input_ids=inputs, position_ids=positions, past_key_values=cache, use_cache=True, logits_to_keep=1)
        logits = out.logits[0, -1].float()
        if generated and options.repetition_penalty != 1.0:
            seen = torch.tensor(sorted(set(generated)), device=logits.device)
            values = logits[seen]
            logits[seen] = torch.where(values > 0, values / options.repetition_penalty, values * options.repetition_penalty)
        if options.temperature > 0:
            probs = (logits / options.temperature).softmax(-1)
            token = int(torch.multinomial(probs.cpu(), 1, generator=generator))
        else:
            token = int(logits.argmax())
        position += inputs.shape[1]
        if token in stop_ids:
            break
        generated.append(token)
        inputs = torch.tensor([[token]], device=device)
    return generated
