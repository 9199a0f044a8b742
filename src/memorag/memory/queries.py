"""Capture the rotated queries of a window's last tokens in every attention layer, during a normal forward.

SDPA attention returns no attention weights, so compressors that score keys by attention recompute it from
these queries. A forward pre-hook on each attention module sees its hidden states and rotary embeddings;
q = RoPE(q_norm?(q_proj(h))) for the last `n_obs` positions only, so the cost is small.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from memorag.memory.rope import rotate_half


class CapturedQueries:
    def __init__(self) -> None:
        self.queries: dict[int, torch.Tensor] = {}  # layer -> (H_q, n_obs, d)
        self.scales: dict[int, float] = {}

    def get(self, layer_idx: int) -> torch.Tensor | None:
        return self.queries.get(layer_idx)

    def scaling(self, layer_idx: int) -> float:
        return self.scales.get(layer_idx, 1.0)


def attention_modules(model: Any) -> list[Any]:
    return [layer.self_attn for layer in model.model.layers]


@contextlib.contextmanager
def capture_queries(model: Any, n_obs: int, keep_grad: bool = False) -> Iterator[CapturedQueries]:
    """Queries of the last `n_obs` positions of the next forward, per layer; detached unless `keep_grad` (training
    a loss on attention, training/pointer.py)."""
    captured = CapturedQueries()
    if n_obs <= 0:
        yield captured
        return
    handles = []
    for layer_idx, attention in enumerate(attention_modules(model)):

        def hook(module: Any, args: tuple, kwargs: dict, layer_idx: int = layer_idx) -> None:
            hidden = kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]
            cos, sin = kwargs["position_embeddings"]
            hidden = hidden[:, -n_obs:]  # (1, n_obs, hidden)
            q = module.q_proj(hidden).view(1, hidden.shape[1], -1, module.head_dim).transpose(1, 2)
            if hasattr(module, "q_norm"):  # Qwen3, Gemma 3 normalize queries before RoPE
                q = module.q_norm(q)
            cos, sin = cos[:, None, -n_obs:], sin[:, None, -n_obs:]
            q = q * cos + rotate_half(q) * sin  # (1, H_q, n_obs, d)
            captured.queries[layer_idx] = q[0] if keep_grad else q[0].detach()
            captured.scales[layer_idx] = float(module.scaling)

        handles.append(attention.register_forward_pre_hook(hook, with_kwargs=True))
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()
