"""Token generation on top of a memory cache, with positions continuing after the memory's compact positions.

transformers' `generate()` would infer positions from the physical cache length; we place positions ourselves
so the code stays right for any memory layout. Greedy by default (deterministic); sampling with a seed for
training data. `decode_batch` decodes several prompts after one memory at once: the memory is stored once for
all rows (shared_cache.py), each row keeps its own positions, stop token, repetition penalty and seed, so each
row writes what `decode` would write for it alone (float rounding aside). Not here: beam search.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from memorag.models import cache_argument


@dataclass(frozen=True)
class DecodeOptions:
    max_new_tokens: int = 128
    temperature: float = 0.0  # 0: greedy
    repetition_penalty: float = 1.15  # on tokens already generated (CTRL-style); 1.0 disables
    seed: int = 0


def crop(cache: Any, length: int) -> None:
    """Drop what was appended to a cache after its first `length` positions (`Cache.crop`'s meaning changed
    across transformers versions)."""
    for layer in cache.layers:
        layer.keys, layer.values = layer.keys[:, :, :length], layer.values[:, :, :length]


def choose_token(logits: torch.Tensor, generated: list[int], options: DecodeOptions, generator: Any) -> int:
    """The next token from one row's last logits (V,), penalizing the tokens this row has generated."""
    logits = logits.float()
    if generated and options.repetition_penalty != 1.0:
        seen = torch.tensor(sorted(set(generated)), device=logits.device)
        values = logits[seen]
        logits[seen] = torch.where(
            values > 0, values / options.repetition_penalty, values * options.repetition_penalty
        )
    if options.temperature > 0:
        probs = (logits / options.temperature).softmax(-1)
        return int(torch.multinomial(probs.cpu(), 1, generator=generator))
    return int(logits.argmax())


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
        out = model(
            input_ids=inputs,
            position_ids=positions,
            **cache_argument(model, cache),
            use_cache=True,
            logits_to_keep=1,
        )
        token = choose_token(out.logits[0, -1], generated, options, generator)
        position += inputs.shape[1]
        if token in stop_ids:
            break
        generated.append(token)
        inputs = torch.tensor([[token]], device=device)
    return generated


@torch.no_grad()
def decode_batch(
    model: Any,
    cache: Any,
    prompts: Sequence[list[int]],
    start_position: int,
    stop_ids: set[int],
    options: DecodeOptions,
) -> list[list[int]]:
    """`decode` of every prompt after the same cache, as one batch; `cache` is read, never written.

    Prompts are prefilled one at a time (a padded batch would spend compute on the pads, and prefill is bound by
    compute anyway); then each step feeds every unfinished row's last token through one forward. A finished row is
    fed no more; its entries stay in the shared cache, masked from the other rows."""
    from memorag.memory.shared_cache import SharedRowsCache, supports

    if not supports(model):  # an attention backend or layer kind the shared cache cannot mask
        return _one_by_one(model, cache, prompts, start_position, stop_ids, options)
    capacity = sum(len(prompt) for prompt in prompts) + len(prompts) * options.max_new_tokens
    rows = SharedRowsCache(model, cache, capacity, start_position)
    generators = [torch.Generator().manual_seed(options.seed) for _ in prompts]  # one each, as `decode` seeds
    generated: list[list[int]] = [[] for _ in prompts]
    active: list[int] = []

    def advance(row: int, logits: torch.Tensor) -> None:
        token = choose_token(logits, generated[row], options, generators[row])
        if token not in stop_ids:
            generated[row].append(token)
            if len(generated[row]) < options.max_new_tokens:
                active.append(row)

    if options.max_new_tokens > 0:
        for row, prompt in enumerate(prompts):
            advance(row, _forward(model, rows, [row], [prompt], [start_position])[0])
    while active:
        stepping, active = active, []
        last = [[generated[row][-1]] for row in stepping]
        firsts = [start_position + len(prompts[row]) + len(generated[row]) - 1 for row in stepping]
        for row, logits in zip(stepping, _forward(model, rows, stepping, last, firsts)):
            advance(row, logits)
    return generated


def _forward(
    model: Any, rows: Any, row_ids: list[int], ids: list[list[int]], firsts: list[int]
) -> torch.Tensor:
    """Last logits (B, V) of `ids` (B rows of q tokens each), row b's tokens at positions firsts[b]...."""
    device = model.device
    inputs = torch.tensor(ids, device=device)  # (B, q)
    positions = torch.tensor(firsts, device=device)[:, None] + torch.arange(inputs.shape[1], device=device)
    mask = rows.feed(row_ids, positions)
    out = model(
        input_ids=inputs,
        position_ids=positions,
        attention_mask=mask,
        **cache_argument(model, rows),
        use_cache=True,
        logits_to_keep=1,
    )
    return out.logits[:, -1]


def _one_by_one(
    model: Any,
    cache: Any,
    prompts: Sequence[list[int]],
    start_position: int,
    stop_ids: set[int],
    options: DecodeOptions,
) -> list[list[int]]:
    length = cache.get_seq_length()
    decoded = []
    for prompt in prompts:
        try:
            decoded.append(decode(model, cache, prompt, start_position, stop_ids, options))
        finally:
            crop(cache, length)
    return decoded
