"""A KV cache for several prompts decoded together after one memory (decoding.decode_batch).

The memory's keys and values are stored once, and every row's tokens follow them in the same sequence
(1, H_kv, L, d), in the order they were fed. Attention gets that sequence as a (B, H_kv, L, d) `expand` view
(stride 0 over the rows, no copy), with a mask that lets each row see the memory and its own tokens only, so rows
of any prompt length share the memory, and a finished row simply stops being fed. Storage is preallocated: the
memory is copied once per call, where DynamicLayer's `torch.cat` copies it at every step.

Not here: layer kinds other than full and sliding-window attention (chunked, linear attention, KV sharing), and
attention backends other than sdpa and eager (decode_batch decodes prompts one at a time for those).
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.cache_utils import Cache, DynamicLayer

SUPPORTED_ATTENTION = ("sdpa", "eager")
SUPPORTED_LAYERS = {"full_attention", "sliding_attention"}


def supports(model: Any) -> bool:
    """Whether `model`'s attention backend and layer kinds take SharedRowsCache and its masks."""
    config = model.config.get_text_config()
    layer_types = set(getattr(config, "layer_types", None) or ["full_attention"])
    return model.config._attn_implementation in SUPPORTED_ATTENTION and layer_types <= SUPPORTED_LAYERS


class SharedRowsLayer(DynamicLayer):
    """One layer's memory and rows, stored once in a preallocated (1, H_kv, capacity, d) buffer."""

    def __init__(self, memory: tuple[torch.Tensor, torch.Tensor] | None, capacity: int) -> None:
        super().__init__()
        self.memory, self.capacity, self.length = memory, capacity, 0

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        heads = key_states.shape[1]
        self.device = key_states.device
        self._keys = key_states.new_empty((1, heads, self.capacity, key_states.shape[3]))
        self._values = value_states.new_empty((1, heads, self.capacity, value_states.shape[3]))
        if self.memory is not None:  # the one copy of the memory this call makes
            self.length = self.memory[0].shape[2]
            self._keys[:, :, : self.length] = self.memory[0]
            self._values[:, :, : self.length] = self.memory[1]
        self.memory = None
        self.is_initialized = True

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        rows, heads, new, _ = key_states.shape  # (B, H_kv, q, d)
        end = self.length + rows * new
        self._keys[:, :, self.length : end] = key_states.transpose(0, 1).reshape(1, heads, rows * new, -1)
        self._values[:, :, self.length : end] = value_states.transpose(0, 1).reshape(1, heads, rows * new, -1)
        self.length = end
        self.keys, self.values = self._keys[:, :, :end], self._values[:, :, :end]  # (1, H_kv, L, d)
        return self.keys.expand(rows, -1, -1, -1), self.values.expand(rows, -1, -1, -1)  # views, no copy


class SharedRowsCache(Cache):
    """The memory of `cache` (read, never written) and the rows fed after it; `feed` registers each forward's
    tokens and returns the attention mask the model takes for them."""

    def __init__(self, model: Any, cache: Any, capacity: int, start_position: int) -> None:
        config = model.config.get_text_config()
        memories = [
            (layer.keys, layer.values) if layer.get_seq_length() > 0 else None for layer in cache.layers
        ]
        memories += [None] * (config.num_hidden_layers - len(memories))
        memory_length = cache.get_seq_length()
        super().__init__(layers=[SharedRowsLayer(memory, memory_length + capacity) for memory in memories])
        self.model = model
        self.layer_types = list(getattr(config, "layer_types", None) or [])
        self.sliding_window = getattr(config, "sliding_window", None)
        device, size = model.device, memory_length + capacity
        self.owner = torch.full((size,), -1, dtype=torch.long, device=device)  # row of each entry, -1: memory
        self.positions = torch.zeros(size, dtype=torch.long, device=device)
        # Memory entry i sits at position start_position - memory_length + i (compact positions: i itself).
        self.positions[:memory_length] = (
            torch.arange(memory_length, device=device) + start_position - memory_length
        )
        self.used = memory_length

    def feed(self, rows: list[int], positions: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        """Register the tokens of `rows` at `positions` (B, q), row after row as the layers store them; the
        mask lets each see the memory and its own row's tokens up to its position."""
        device = self.owner.device
        row_ids = torch.tensor(rows, device=device)  # (B,)
        end = self.used + positions.numel()
        self.owner[self.used : end] = row_ids.repeat_interleave(positions.shape[1])
        self.positions[self.used : end] = positions.reshape(-1)
        self.used = end
        owner, key_positions = self.owner[None, None, :end], self.positions[None, None, :end]  # (1, 1, L)
        query_positions = positions[:, :, None]  # (B, q, 1)
        mine = (owner == -1) | (owner == row_ids[:, None, None])
        visible = mine & (key_positions <= query_positions)  # (B, q, L)
        if "sliding_attention" not in self.layer_types:
            return self._mask(visible)
        local = visible & (key_positions > query_positions - self.sliding_window)
        return {"full_attention": self._mask(visible), "sliding_attention": self._mask(local)}

    def _mask(self, visible: torch.Tensor) -> torch.Tensor:
        """(B, 1, q, L): boolean for sdpa, additive for eager (as transformers' own masks are)."""
        visible = visible[:, None]
        if self.model.config._attn_implementation == "sdpa":
            return visible
        blocked = torch.finfo(self.model.dtype).min
        return torch.zeros(visible.shape, dtype=self.model.dtype, device=visible.device).masked_fill(
            ~visible, blocked
        )
