"""A memorize window's attention in two flash passes: over the memory (all visible) and over itself (causal).

Reading a window after the memory, transformers' sdpa gets a (W, M+W) mask and computes every score, the
masked upper triangle of the window included: with a 2,048-token window that triangle is as much work as the
whole causal attention of the window alone. Here the window's queries attend to the memory without a mask and to
their own window with `is_causal`, both through torch's CPU flash kernel, which also returns each row's
log-sum-exp; the two halves are merged exactly (softmax over the union = the halves weighted by
exp(lse_part - lse_all)). Logits equal sdpa's to float rounding (tests/memory/test_prefix_attention.py).

Used only inside `window_after_memory(model, memory_length)` and only where it is exact: CPU, one sequence, no
sliding-window layers or logit soft-capping, keys = memory + this window. Any other call during that time
(another thread's question, a shape that does not match) goes to transformers' sdpa with its mask, unchanged.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

import torch

NAME = "memorag_prefix"
_memory_length: contextvars.ContextVar[int | None] = contextvars.ContextVar("memorag_prefix", default=None)
_registered = False


def _sdpa(*args: Any, **kwargs: Any) -> Any:
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    return sdpa_attention_forward(*args, **kwargs)


def prefix_attention(module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                     attention_mask: torch.Tensor | None, scaling: float | None = None, dropout: float = 0.0,
                     **kwargs: Any) -> tuple[torch.Tensor, None]:
    """transformers' attention-function signature: query (B, H, L, d), key/value (B, H_kv, S, d) -> (B, L, H, d)."""
    memory = _memory_length.get()
    exact = (
        memory is not None and query.device.type == "cpu" and query.shape[0] == 1 and dropout == 0.0
        and key.shape[2] == memory + query.shape[2] and not kwargs.get("sliding_window")
        and getattr(module, "attn_logit_softcapping", None) is None
    )
    if not exact:
        return _sdpa(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs)
    repeats = query.shape[1] // key.shape[1]  # grouped-query attention: the kernel wants one key head per query head
    if repeats > 1:
        key, value = key.repeat_interleave(repeats, dim=1), value.repeat_interleave(repeats, dim=1)
    flash = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    own, own_lse = flash(query, key[:, :, memory:], value[:, :, memory:], 0.0, True, scale=scaling)
    if memory == 0:
        return own.transpose(1, 2).contiguous(), None
    past, past_lse = flash(query, key[:, :, :memory], value[:, :, :memory], 0.0, False, scale=scaling)
    total = torch.logaddexp(past_lse, own_lse)  # (B, H, L)
    out = past * (past_lse - total).exp()[..., None] + own * (own_lse - total).exp()[..., None]
    return out.to(query.dtype).transpose(1, 2).contiguous(), None


def _register() -> None:
    global _registered
    if _registered:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, prefix_attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)  # the fallback path is sdpa and gets sdpa's masks
    _registered = True


def usable(model: Any) -> bool:
    """Whether the model runs sdpa on the CPU with full attention in every layer (where the split is exact)."""
    config = model.config.get_text_config()
    layer_types = set(getattr(config, "layer_types", None) or ["full_attention"])
    return (model.config._attn_implementation in ("sdpa", NAME) and model.device.type == "cpu"
            and layer_types == {"full_attention"} and hasattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu"))


@contextlib.contextmanager
def window_after_memory(model: Any, memory_length: int) -> Iterator[None]:
    """For the body's forward of one window after `memory_length` memory entries: the split attention."""
    if not usable(model):
        yield
        return
    _register()
    token = _memory_length.set(memory_length)
    previous = model.config._attn_implementation
    model.config._attn_implementation = NAME
    try:
        yield
    finally:
        model.config._attn_implementation = previous
        _memory_length.reset(token)
