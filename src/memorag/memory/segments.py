"""Per-document memory segments (issue 18): each document's memory entries kept apart, so a document can be
removed or replaced, and laid end to end after the instruction prefix when a question is asked.

A document is memorized on its own: its windows attend to the instruction prefix (P entries) and to its own
earlier memory. Its segment keeps the entries after the prefix with keys rotated at compact positions P, P+1,
... and sources counted from P in that frame. `lay_out` places the chosen segments one after the other: a
segment moves by the entries of the chosen segments before it (one more RoPE rotation, rope.py) and its sources
by the tokens of every document before it, so sources index the stream `prefix + document 1 + document 2 ...`
whichever segments are chosen. A store written before segments existed loads as one segment that holds all its
documents (`documents` > 1): it is laid out as it was, and cannot lose one document without memorizing again.
`segment_to_bytes` / `segment_from_bytes` carry one segment between processes (memorag.distributed) as safetensors
bytes and a dict of its counts: no pickle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from memorag.memory.rope import rotate


@dataclass
class Segment:
    """The memory entries of `documents` consecutive documents (1, except in stores from before segments)."""

    tokens: int  # tokens of the memorized stream the segment read (document headers included)
    beta: int
    keys: list[torch.Tensor]  # per layer (1, H_kv, n, d), rotated at positions P .. P+n-1, in the storage dtype
    values: list[torch.Tensor]  # per layer (1, H_kv, n, d), in the storage dtype
    sources: list[torch.Tensor]  # per layer (H_kv, n): stream token index, counted from P in the segment's frame
    documents: int = 1

    @property
    def entries(self) -> int:
        return int(self.values[0].shape[2]) if self.values else 0


@dataclass(frozen=True)
class Prefix:
    """The instruction prefix's entries (never compressed), shared by every segment."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    sources: list[torch.Tensor]

    @property
    def entries(self) -> int:
        return int(self.values[0].shape[2]) if self.values else 0


def lay_out(
    prefix: Prefix, segments: Sequence[Segment], chosen: Sequence[int], inv_freq: Sequence[torch.Tensor],
    dtype: torch.dtype,
) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    """(keys, values, sources) per layer of the prefix followed by the `chosen` segments, in document order, keys
    and values in `dtype` (the model's). Segments are held in the storage dtype (float16: half the
    RAM); only the laid-out memory, at most a window's worth, is in the model's."""
    base = prefix.entries
    starts, total = [], base
    for segment in segments:
        starts.append(total)
        total += segment.tokens
    keys, values, sources = [], [], []
    for layer in range(len(prefix.keys)):
        layer_keys, layer_values = [prefix.keys[layer].to(dtype)], [prefix.values[layer].to(dtype)]
        layer_sources = [prefix.sources[layer]]
        offset = 0
        for index in sorted(chosen):
            segment = segments[index]
            segment_keys = segment.keys[layer].to(dtype)
            if offset:
                delta = torch.full(segment_keys.shape[:-1], offset, device=segment_keys.device)
                segment_keys = rotate(segment_keys, delta, inv_freq[layer])
            layer_keys.append(segment_keys)
            layer_values.append(segment.values[layer].to(dtype))
            layer_sources.append(segment.sources[layer] - base + starts[index])
            offset += segment.entries
        keys.append(torch.cat(layer_keys, dim=2))
        values.append(torch.cat(layer_values, dim=2))
        sources.append(torch.cat(layer_sources, dim=1))
    return keys, values, sources


def segment_of_documents(segments: Sequence[Segment]) -> list[int]:
    """The segment index of every memorized document, in document order."""
    owner: list[int] = []
    for index, segment in enumerate(segments):
        owner += [index] * segment.documents
    return owner


def choose_segments(segments: Sequence[Segment], order: Sequence[int], capacity: int) -> tuple[int, ...]:
    """Segments for a question: those of the documents in `order` (most relevant first), each taken while the
    entries chosen so far leave room for it within `capacity`; then any others that still fit. Ascending."""
    owner = segment_of_documents(segments)
    ranked = [owner[d] for d in order if 0 <= d < len(owner)]
    ranked += range(len(segments))
    chosen: list[int] = []
    used = 0
    for index in dict.fromkeys(ranked):
        if used + segments[index].entries <= capacity:
            chosen.append(index)
            used += segments[index].entries
    return tuple(sorted(chosen))


def segment_to_bytes(segment: Segment) -> tuple[dict[str, int], bytes]:
    """(counts, tensors) of one segment: its counts as a JSON-able dict, its tensors as safetensors bytes, each
    in its own dtype (already rounded through the storage dtype: kv.py), so the round trip is exact."""
    from safetensors.torch import save

    tensors: dict[str, torch.Tensor] = {}
    for i, (k, v, s) in enumerate(zip(segment.keys, segment.values, segment.sources, strict=True)):
        tensors[f"keys.{i}"], tensors[f"values.{i}"] = k.cpu().contiguous(), v.cpu().contiguous()
        tensors[f"sources.{i}"] = s.cpu().contiguous()
    counts = {"tokens": segment.tokens, "beta": segment.beta, "documents": segment.documents,
              "layers": len(segment.keys)}
    return counts, save(tensors)


def segment_from_bytes(counts: dict[str, int], data: bytes, device: torch.device | str = "cpu") -> Segment:
    """The segment `segment_to_bytes` gave (counts, data), its tensors on `device`."""
    from safetensors.torch import load

    tensors = load(data)
    layers = range(counts["layers"])
    return Segment(
        counts["tokens"], counts["beta"], [tensors[f"keys.{i}"].to(device) for i in layers],
        [tensors[f"values.{i}"].to(device) for i in layers], [tensors[f"sources.{i}"].to(device) for i in layers],
        counts["documents"],
    )


__all__ = ["Prefix", "Segment", "choose_segments", "lay_out", "segment_from_bytes", "segment_of_documents",
           "segment_to_bytes"]
