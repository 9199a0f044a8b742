"""Rotary position helpers: re-rotating cached keys to new positions, and rotating captured queries.

RoPE turns the pair (x1, x2) of each frequency by an angle position * inv_freq; rotations compose, so a key
rotated at position p moves to position p' by one more rotation of (p' - p) * inv_freq (kvpress's key
re-rotation does the same). Uses the half-split layout of transformers' `rotate_half` (Llama, Qwen, Mistral,
Gemma); models with interleaved pairs are not supported. Scaled variants (llama3, yarn) only change inv_freq
or scale cos/sin by a constant, which a relative rotation leaves in place.
"""

from __future__ import annotations

from typing import Any

import torch


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def inverse_frequencies(model: Any) -> list[torch.Tensor]:
    """inv_freq of each decoder layer's rotary embedding, each of shape (head_dim // 2,).

    Most models share one `model.rotary_emb.inv_freq`; Gemma 3 keeps one per layer type (`sliding_attention`,
    `full_attention`, with different bases) and names each layer's type in `config.layer_types`.
    """
    rotary = getattr(model.model, "rotary_emb", None)
    layers = model.config.num_hidden_layers
    shared = getattr(rotary, "inv_freq", None)
    if shared is not None:
        return [shared.float()] * layers
    layer_types = getattr(model.config, "layer_types", None)
    if layer_types and all(hasattr(rotary, f"{kind}_inv_freq") for kind in set(layer_types)):
        return [getattr(rotary, f"{kind}_inv_freq").float() for kind in layer_types]
    raise NotImplementedError(
        f"{type(model).__name__}: no rotary embedding found; KV memory supports RoPE decoders with "
        "`model.rotary_emb` (Llama, Qwen2, Mistral, Gemma 3 families)"
    )


def rotate(x: torch.Tensor, delta: torch.Tensor, inv_freq: torch.Tensor) -> torch.Tensor:
    """Rotate x (..., T, d) by delta (..., T) positions each; delta may be negative."""
    angles = delta.to(x.device, torch.float32)[..., None] * inv_freq.to(x.device)  # (..., T, d/2)
    angles = torch.cat((angles, angles), dim=-1)  # (..., T, d)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    return x * cos + rotate_half(x) * sin
