"""`attention` recall: the chunks the question attends to, read from the memory's own attention.

The question (in the "answer" prompt) is fed after the memory; a forward pre-hook captures its queries in every
layer (memory/queries.py; SDPA returns no weights), and softmax(q k^T * scaling) is recomputed against the
memory's keys and the prompt's own (causal), query heads sharing KV heads as in GQA. The mass each memory entry
gets, averaged over the chosen query tokens, layers and heads, goes to the source token it came from
(`memory.sources`, saved with the store), minus `null_weight` times what a null question gives it (much of
it is a recency prior), then to character offsets and is summed per chunk. Sliding-window layers (Gemma 3)
see only the last memory entries, so by default only global ("full_attention") layers count.
Not here: gist memories (their entries come from gists, not from the documents).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from memorag.memory.queries import capture_queries
from memorag.models import cache_argument
from memorag.recall.base import RecallConfig, memory_reader, nonblank
from memorag.recall.copy import StreamCache, check_fits
from memorag.recall.copying import crop
from memorag.recall.stream import TokenStream, memorized_stream
from memorag.types import Chunk, Clue, Document

_PLACEHOLDER = "\x00QUESTION\x00"


def global_layers(model: Any) -> list[int]:
    """Layers that attend to the whole memory: all, except where the config names sliding-window ones."""
    layer_types = getattr(model.config, "layer_types", None)
    if not layer_types:
        return list(range(model.config.num_hidden_layers))
    return [i for i, kind in enumerate(layer_types) if kind == "full_attention"]


def question_prompt(tokenizer: Any, frame: Any, question: str, which: str) -> tuple[list[int], list[int]]:
    """Token ids of the "answer" prompt (of PromptFrame `frame`) for `question`, and the rows whose queries count
    (`which`: "question", "prompt" or "last")."""
    template = frame.task_suffix("answer", question=_PLACEHOLDER)
    at = template.index(_PLACEHOLDER)
    text = template.replace(_PLACEHOLDER, question)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=which == "question")
    ids = encoded["input_ids"]
    if which == "last":
        return ids, [len(ids) - 1]
    if which == "prompt":
        return ids, list(range(len(ids)))
    rows = [i for i, (s, e) in enumerate(encoded["offset_mapping"]) if s < at + len(question) and e > at]
    return ids, rows or list(range(len(ids)))


def memory_attention(
    queries: torch.Tensor, keys: torch.Tensor, scaling: float, memory_length: int, rows: Sequence[int]
) -> torch.Tensor:
    """(H_q, R, M): softmax(q k^T * scaling) of the prompt's `rows` (queries (H_q, R, d)) over the cache's keys
    (H_kv, M + P, d: the memory, then the prompt; causal over the prompt), its memory part. Query heads share KV
    heads as in GQA. Differentiable: pointer training (training/pointer.py) backpropagates through it."""
    q = queries.float()
    k = keys.float().repeat_interleave(q.shape[0] // keys.shape[0], dim=0)  # (H_q, M + P, d)
    logits = q @ k.transpose(1, 2) * scaling  # (H_q, R, M + P)
    visible = (
        torch.arange(k.shape[1], device=k.device)[None, :]
        <= memory_length + torch.tensor(list(rows), device=k.device)[:, None]
    )  # causal
    return logits.masked_fill(~visible, float("-inf")).softmax(dim=-1)[..., :memory_length]


@torch.no_grad()
def entry_attention(
    reader: Any, prompt_ids: list[int], rows: list[int], layers: Sequence[int]
) -> dict[int, torch.Tensor]:
    """layer -> (H_q, len(rows), M): attention of the prompt's `rows` over the M memory entries."""
    memory_length, count = reader.length, len(prompt_ids)
    cache = reader._question_cache()
    device = reader.model.device
    positions = torch.arange(memory_length, memory_length + count, device=device)[None]
    try:
        with capture_queries(reader.model, count) as captured:
            reader.model.model(
                input_ids=torch.tensor([prompt_ids], device=device),
                position_ids=positions,
                **cache_argument(reader.model.model, cache),
                use_cache=True,
            )
        found = {
            layer: memory_attention(
                captured.get(layer)[:, rows], cache.layers[layer].keys[0], captured.scaling(layer), memory_length, rows
            )
            for layer in layers
        }
    finally:
        crop(cache, memory_length)
    return found


def chunk_scores(stream: TokenStream, token_mass: np.ndarray, chunks: Sequence[Chunk]) -> np.ndarray:
    """(n_chunks,) summed mass of the stream tokens that start inside each chunk."""
    scores = np.zeros(len(chunks))
    by_doc: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for i, chunk in enumerate(chunks):
        if chunk.doc_id not in by_doc:
            index = np.flatnonzero(stream.doc == chunk.doc_id)  # ascending starts within one document
            by_doc[chunk.doc_id] = (
                stream.start[index],
                np.concatenate(([0.0], np.cumsum(token_mass[index]))),
            )
        starts, cumulative = by_doc[chunk.doc_id]
        lo, hi = np.searchsorted(starts, chunk.start), np.searchsorted(starts, chunk.end)
        scores[i] = cumulative[hi] - cumulative[lo]
    return scores


class AttentionRecall:
    name = "attention"

    def __init__(self, config: RecallConfig | None = None) -> None:
        self.config = config or RecallConfig()
        self._streams = StreamCache(
            lambda reader, documents: memorized_stream(reader.tokenizer, reader.frame.prefix, documents)
        )

    def token_mass(self, reader: Any, question: str) -> np.ndarray:
        """(tokens_read,) attention mass per token of the memorized stream, averaged over rows, layers, heads."""
        layers = list(self.config.layers) if self.config.layers is not None else global_layers(reader.model)
        prompt, rows = question_prompt(reader.tokenizer, reader.frame, question, self.config.attention_query)
        check_fits(reader, len(prompt), 0)
        mass = torch.zeros(reader.tokens_read, dtype=torch.float64, device="cpu")  # summed on the CPU
        for layer, probs in entry_attention(reader, prompt, rows, layers).items():
            per_head = probs.mean(dim=1).double().cpu()  # (H_q, M)
            layer_sources = reader.sources[layer].cpu()  # (H_kv, M)
            sources = layer_sources.repeat_interleave(per_head.shape[0] // layer_sources.shape[0], 0)
            heads = (
                list(self.config.heads) if self.config.heads is not None else list(range(per_head.shape[0]))
            )
            mass.index_add_(0, sources[heads].flatten(), per_head[heads].flatten() / len(heads))
        return (mass / max(len(layers), 1)).numpy()

    def recall(
        self, question: str, memory: Any, documents: Sequence[Document], retriever: Any = None
    ) -> list[Clue]:
        if getattr(memory, "kind", "kv") == "gist" or retriever is None:
            raise ValueError(
                "attention recall needs a kv or full memory and the retriever whose chunks it ranks"
            )
        reader = memory_reader(memory)
        stream = self._streams.get(reader, documents)
        if len(stream) != reader.tokens_read:
            raise ValueError(
                f"the documents give {len(stream)} tokens but the memory read {reader.tokens_read}: "
                "pass the documents that were memorized, in order"
            )
        mass = self.token_mass(reader, question)
        if self.config.null_weight:
            mass = mass - self.config.null_weight * self.token_mass(reader, self.config.null_question)
        chunks = retriever.chunks
        scores = chunk_scores(stream, mass, chunks)
        best = sorted(range(len(chunks)), key=lambda i: -scores[i])[: self.config.top_chunks]
        return nonblank(
            [
                Clue(
                    chunks[i].text,
                    "passage",
                    "attention",
                    chunks[i].doc_id,
                    chunks[i].start,
                    chunks[i].end,
                    float(scores[i]),
                )
                for i in best
            ]
        )
