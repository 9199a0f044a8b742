"""KV compressors: which of a window's KV entries stay in memory, `beta` times fewer than it had.

A compressor sees one window of one layer and returns the entries to keep, keys in the un-rotated frame
(position 0) so the caller can place them at compact memory positions. Every KV head keeps the same number of
entries, though not the same tokens. Protected entries (the instruction before the context) are always kept.
Not here: per-layer or per-head budgets, and compressing memory already kept (each window is compressed once).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F


@dataclass
class WindowKV:
    """One layer's KV entries for one window (batch of one)."""

    keys: torch.Tensor  # (H_kv, W, d), rotated at their cache positions
    raw_keys: torch.Tensor  # (H_kv, W, d), the same keys un-rotated to position 0
    values: torch.Tensor  # (H_kv, W, d)
    sources: torch.Tensor  # (W,) index of each entry's token in the memorized token stream
    protected: torch.Tensor  # (W,) bool: always kept
    queries: torch.Tensor | None = None  # (H_q, n_obs, d): rotated queries of the window's last tokens
    scaling: float = 1.0  # attention scale of the layer (1/sqrt(d) for most models)


@dataclass
class Kept:
    raw_keys: torch.Tensor  # (H_kv, K, d)
    values: torch.Tensor  # (H_kv, K, d)
    sources: torch.Tensor  # (H_kv, K) source token index per kept entry, ascending


class Compressor(Protocol):
    name: str
    needs_queries: bool

    def compress(self, window: WindowKV, beta: int) -> Kept: ...


def kept_count(window_length: int, protected: int, beta: int) -> int:
    return protected + math.ceil((window_length - protected) / beta)


def _gather(window: WindowKV, index: torch.Tensor) -> Kept:
    """index: (H_kv, K) ascending positions within the window."""
    expand = index[..., None].expand(-1, -1, window.values.shape[-1])
    return Kept(
        raw_keys=window.raw_keys.gather(1, expand),
        values=window.values.gather(1, expand),
        sources=window.sources[index],
    )


class SnapKVCompressor:
    """Attention-guided selection (SnapKV, Li et al. 2024): keep the keys the window's last queries attend to.

    Scores: softmax attention of the last `n_obs` queries over the window, summed over those queries, averaged
    over the query heads that share a KV head, max-pooled so neighbours of a salient token survive with it.
    """

    name = "snapkv"
    needs_queries = True

    def __init__(self, pool_kernel: int = 7) -> None:
        self.pool_kernel = pool_kernel

    def scores(self, window: WindowKV) -> torch.Tensor:
        assert window.queries is not None, "snapkv needs the window's queries"
        q, k = window.queries.float(), window.keys.float()
        h_q, n_obs, _ = q.shape
        h_kv, length, _ = k.shape
        k = k.repeat_interleave(h_q // h_kv, dim=0)  # (H_q, W, d)
        logits = q @ k.transpose(1, 2) * window.scaling  # (H_q, n_obs, W)
        query_pos = torch.arange(length - n_obs, length, device=k.device)[:, None]
        logits = logits.masked_fill(torch.arange(length, device=k.device)[None, :] > query_pos, float("-inf"))
        attention = logits.softmax(dim=-1).sum(dim=1)  # (H_q, W)
        attention = attention.view(h_kv, h_q // h_kv, length).mean(dim=1)  # (H_kv, W)
        if self.pool_kernel > 1:
            attention = F.max_pool1d(attention[None], self.pool_kernel, 1, self.pool_kernel // 2)[0]
        return attention

    def compress(self, window: WindowKV, beta: int) -> Kept:
        length = window.keys.shape[1]
        protected = int(window.protected.sum())
        keep = kept_count(length, protected, beta)
        scores = self.scores(window).masked_fill(window.protected[None, :], float("inf"))
        index = scores.topk(keep, dim=-1).indices.sort(dim=-1).values  # (H_kv, K)
        return _gather(window, index)


class MeanPoolCompressor:
    """Mean pooling: every run of `beta` consecutive entries becomes one entry, their mean key and value.

    Keys are averaged un-rotated, so the mean is position-free; the source of a pooled entry is its first token.
    """

    name = "mean"
    needs_queries = False

    def compress(self, window: WindowKV, beta: int) -> Kept:
        protected = int(window.protected.sum())
        h_kv, length, dim = window.values.shape
        groups = math.ceil((length - protected) / beta)
        pad = groups * beta - (length - protected)

        def pool(x: torch.Tensor) -> torch.Tensor:  # (H_kv, n, d) -> (H_kv, groups, d)
            if groups == 0:
                return x
            summed = F.pad(x, (0, 0, 0, pad)).view(h_kv, groups, beta, dim).sum(dim=2)
            counts = torch.full((groups,), float(beta), dtype=x.dtype, device=x.device)
            counts[-1] = beta - pad
            return summed / counts[None, :, None]

        head_keys, head_values = window.raw_keys[:, :protected], window.values[:, :protected]
        sources = torch.cat((window.sources[:protected], window.sources[protected::beta]))
        return Kept(
            raw_keys=torch.cat((head_keys, pool(window.raw_keys[:, protected:])), dim=1),
            values=torch.cat((head_values, pool(window.values[:, protected:])), dim=1),
            sources=sources[None, :].expand(h_kv, -1).contiguous(),
        )


class RecentCompressor:
    """The attention-free baseline (StreamingLLM's "sinks + recent", applied per window).

    Keeps the protected entries (the instruction head, which also serves as attention sinks) and the last
    1/beta of each window's entries: what a fixed-size sliding memory would keep, without looking at content.
    """

    name = "recent"
    needs_queries = False

    def compress(self, window: WindowKV, beta: int) -> Kept:
        length = window.values.shape[1]
        protected = int(window.protected.sum())
        keep = kept_count(length, protected, beta) - protected
        device = window.values.device
        head, tail = torch.arange(protected, device=device), torch.arange(length - keep, length, device=device)
        index = torch.cat((head, tail))
        return _gather(window, index[None, :].expand(window.values.shape[0], -1))


COMPRESSORS = {"snapkv": SnapKVCompressor, "mean": MeanPoolCompressor, "recent": RecentCompressor}


def make_compressor(name: str, pool_kernel: int = 7) -> Compressor:
    if name == "snapkv":
        return SnapKVCompressor(pool_kernel)
    if name == "mean":
        return MeanPoolCompressor()
    if name == "recent":
        return RecentCompressor()
    raise ValueError(f"unknown compressor {name!r}; choose one of {sorted(COMPRESSORS)}")
