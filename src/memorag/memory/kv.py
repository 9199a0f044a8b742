"""The `kv` global memory: the memory model's KV cache, compressed window by window (MemoRAG section 2.2).

Each document is memorized on its own, after the instruction prefix, and kept as its own segment (segments.py) with
its own beta, so it can be removed or replaced; at question time the segments are laid end to end. A document is
prefilled `window` tokens at a time. Each window attends to the prefix, the document's memory kept so far and
itself; afterwards its KV entries are compressed by `beta` and only the kept entries join the memory. Positions are
*compact*: memory entry i sits at position i, whatever token it came from, so a context far longer than the
model's native window fits as long as its compressed memory does. Kept keys are re-rotated to their compact
position (rope.py); each entry remembers the source token it came from (`sources`, per layer and KV head).

When the segments do not fit the window together, each question reads the segments of the documents its
retrieval hits come from (`focus`), as many as fit. Not here: recompressing a document's memory when it grows
past the window alone (we refuse with a beta that fits), and
sliding-window attention layers (Gemma 3's local layers see only their last few hundred memory entries).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from memorag.config import BETAS, MemoryConfig
from memorag.errors import MemoryBudgetError, StoreCorruptError
from memorag.memory.base import CLUE_KINDS, check_kinds, clues_from_texts
from memorag.memory.compressors import WindowKV, make_compressor
from memorag.memory.decoding import DecodeOptions, crop, decode, decode_batch
from memorag.memory.prefix_attention import window_after_memory
from memorag.memory.prompts import parse_clues, prompt_frame
from memorag.memory.queries import capture_queries
from memorag.memory.rope import inverse_frequencies, rotate
from memorag.memory.segments import Prefix, Segment, choose_segments, lay_out, segment_of_documents
from memorag.models import cache_argument
from memorag.types import Clue, Document

MEMORY_FILE = "memory.safetensors"
MEMORY_FORMAT = "memorag-kv v2"  # v1 (one shared stream) still loads
STORAGE_DTYPE = torch.float16  # halves the store; memory is rounded through it at once so answers match on load


def document_header(document: Document) -> str:
    return f"\n\n### {Path(document.source).name}\n"


ROUTED_BETA = 8
"""The least automatic beta of a document memorized alone (a routed store): a question's layout holds about one
window of entries (about 7,300 with SmolLM2), so beta 8 lets it read about eight times as many documents as beta 1,
and a 1M-token corpus keeps about 3 GB of memory instead of 23 GB. A fixed `MemoryConfig.beta` is taken as given."""


def choose_beta(tokens: int, used: int, config: MemoryConfig, native_window: int, least: int = 1) -> int:
    """The smallest beta (at least `least`, unless config fixes one) whose memory leaves room for the working
    window and a recall prompt."""
    free = native_window - max(config.window, config.reserve) - used
    windows = math.ceil(tokens / config.window)
    candidates = [config.beta] if config.beta else [beta for beta in BETAS if beta >= least]
    for beta in candidates:
        if math.ceil(tokens / beta) + windows <= free:
            return beta
    need = next((b for b in BETAS if math.ceil(tokens / b) + windows <= free), None)
    hint = f"use beta {need} or more" if need else "split the input into several stores"
    raise MemoryBudgetError(
        f"{tokens} new tokens at beta {candidates[-1]} need about {math.ceil(tokens / candidates[-1])} memory "
        f"entries, but the memory model's {native_window}-token window has room for {max(free, 0)} after "
        f"{used} already in memory and a {max(config.window, config.reserve)}-token working window: {hint}"
    )


class KVMemory:
    """Compressed KV memory of a causal LM. Build with a loaded (model, tokenizer) or let it load lazily."""

    kind = "kv"

    def __init__(self, config: MemoryConfig, model: Any = None, tokenizer: Any = None) -> None:
        if model is None or tokenizer is None:
            from memorag.models import load_causal_lm

            model, tokenizer = load_causal_lm(config.model, config.device, config.dtype)
        self.config, self.model, self.tokenizer = config, model, tokenizer
        self.frame = prompt_frame(tokenizer)
        self._stops = stop_ids(tokenizer) | (set() if self.frame.chat else newline_ids(tokenizer))
        self.native_window = int(getattr(model.config, "max_position_embeddings", 8192))
        self.prefix: Prefix | None = None  # the instruction prefix's entries, read once
        self.segments: list[Segment] = []  # one per memorized document (segments.py)
        self.chosen: tuple[int, ...] | None = None  # segments laid out for questions; None: all of them
        self._layout: tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]] | None = None
        self._cache: Any = None
        self._inv_freq: list[torch.Tensor] | None = None

    # ----- state -------------------------------------------------------------------------------------
    @property
    def is_empty(self) -> bool:
        return self.prefix is None

    @property
    def protected(self) -> int:
        """Entries (and tokens) of the instruction prefix, never compressed."""
        return self.prefix.entries if self.prefix is not None else 0

    @property
    def tokens_read(self) -> int:
        """Length of the memorized token stream (prompt prefix included), whichever segments are laid out."""
        return self.protected + sum(segment.tokens for segment in self.segments) if self.prefix else 0

    @property
    def beta(self) -> int | None:
        """The largest beta of any segment (each document gets its own); None before memorize."""
        return max((segment.beta for segment in self.segments), default=self.config.beta)

    @property
    def entries(self) -> int:
        """Memory entries held, all segments together (the laid-out memory may hold fewer: `length`)."""
        return self.protected + sum(segment.entries for segment in self.segments)

    @property
    def capacity(self) -> int:
        """Segment entries that fit the native window beside the prefix and a recall prompt."""
        return self.native_window - self.config.reserve - self.protected

    @property
    def keys(self) -> list[torch.Tensor]:  # per layer (1, H_kv, M, d), rotated at positions 0..M-1
        return self._laid_out()[0]

    @property
    def values(self) -> list[torch.Tensor]:  # per layer (1, H_kv, M, d)
        return self._laid_out()[1]

    @property
    def sources(self) -> list[torch.Tensor]:  # per layer (H_kv, M) source token index of each entry
        return self._laid_out()[2]

    @property
    def length(self) -> int:
        return self.keys[0].shape[2] if self.prefix is not None else 0

    @property
    def nbytes(self) -> int:
        return self.entries * memory_bytes_per_entry(self.model.config)

    def _laid_out(self) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
        if self.prefix is None:
            return [], [], []
        if self._layout is None:
            chosen = range(len(self.segments)) if self.chosen is None else self.chosen
            self._layout = lay_out(self.prefix, self.segments, list(chosen), self._frequencies(), self.model.dtype)
        return self._layout

    def _frequencies(self) -> list[torch.Tensor]:
        if self._inv_freq is None:
            self._inv_freq = inverse_frequencies(self.model)
        return self._inv_freq

    def _changed(self) -> None:
        self._layout, self._cache = None, None

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "model": self.config.model, "beta": self.beta, "compressor": self.config.compressor,
            "window": self.config.window, "tokens_read": self.tokens_read, "entries": self.entries,
            "bytes": self.nbytes, "native_window": self.native_window, "segments": len(self.segments),
            "routed": self.needs_routing,
        }

    def _question_cache(self) -> Any:
        from transformers import DynamicCache

        if self._cache is None:
            self._cache = DynamicCache(ddp_cache_data=list(zip(self.keys, self.values)))
        return self._cache

    # ----- which documents a question reads ----------------------------------------------------------
    @property
    def needs_routing(self) -> bool:
        """True when the segments do not fit the window together: each question reads the ones `focus` picks."""
        return sum(segment.entries for segment in self.segments) > self.capacity

    def focus(self, documents: Sequence[int]) -> tuple[int, ...]:
        """Lay out the segments of `documents` (indices, most relevant first) and as many others as fit; a memory
        that fits whole keeps every segment. Returns the document indices now in the memory."""
        chosen = None if not self.needs_routing else choose_segments(self.segments, documents, self.capacity)
        if chosen != self.chosen:
            self.chosen = chosen
            self._changed()
        owner = segment_of_documents(self.segments)
        kept = set(range(len(self.segments)) if chosen is None else chosen)
        return tuple(d for d, s in enumerate(owner) if s in kept)

    def remove(self, documents: Sequence[int]) -> bool:
        """Drop the segments of `documents` (indices); False, and nothing dropped, when one of them shares its
        segment with other documents (a store from before segments): memorize the rest again instead."""
        owner = segment_of_documents(self.segments)
        unknown = [d for d in documents if not 0 <= d < len(owner)]
        if unknown:
            raise ValueError(f"no memorized document {unknown[0]} (the memory holds {len(owner)})")
        if any(self.segments[owner[d]].documents != 1 for d in documents):
            return False
        dropped = {owner[d] for d in documents}
        self.segments = [segment for index, segment in enumerate(self.segments) if index not in dropped]
        self.chosen = None
        self._changed()
        return True

    # ----- memorize ----------------------------------------------------------------------------------
    def memorize(self, documents: Sequence[Document], progress: bool = False) -> dict[str, float]:
        """Memorize each document as its own segment after the instruction prefix. All new documents get one
        beta, the smallest with which they fit the window beside the memory there; when none does, each gets
        the smallest beta with which it fits alone, and questions read the segments `focus` picks."""
        started = time.perf_counter()
        self.add_segments(self.read_segments(documents, self.plan(documents), progress))
        return {"memory_prefill": time.perf_counter() - started}

    def plan(self, documents: Sequence[Document]) -> list[int]:
        """The beta `memorize` would give each of `documents` now (reads the instruction prefix if not yet):
        what a driver hands the workers that memorize the documents apart (memorag.distributed)."""
        self._read_prefix()
        return self._betas([len(stream) for stream in self._streams(documents)])

    def read_segments(
        self, documents: Sequence[Document], betas: Sequence[int], progress: bool = False
    ) -> list[Segment]:
        """Each document's segment at its beta, read after the instruction prefix alone; the memory is unchanged."""
        from transformers import DynamicCache

        prefix = self._read_prefix()
        compressor = make_compressor(self.config.compressor, self.config.pool_kernel)
        inv_freq = self._frequencies()
        streams = self._streams(documents)
        base = self.protected
        dtype = self.model.dtype
        cache = DynamicCache(ddp_cache_data=[(k.to(dtype), v.to(dtype)) for k, v in zip(prefix.keys, prefix.values)])
        bar = _progress(sum(len(stream) for stream in streams), progress)
        segments = []
        for stream, beta in zip(streams, betas, strict=True):
            sources = [torch.empty((layer.shape[1], 0), dtype=torch.long, device=layer.device) for layer in prefix.keys]
            for start in range(0, len(stream), self.config.window):
                ids = stream[start : start + self.config.window]
                kept = self._read_window(cache, ids, compressor, inv_freq, base + start, base, beta)
                sources = [torch.cat((old, new), dim=1) for old, new in zip(sources, kept, strict=True)]
                bar.update(len(ids))
            segments.append(Segment(
                tokens=len(stream), beta=beta, keys=[self._stored(layer.keys[:, :, base:]) for layer in cache.layers],
                values=[self._stored(layer.values[:, :, base:]) for layer in cache.layers], sources=sources,
            ))
            crop(cache, base)
        bar.close()
        return segments

    def add_segments(self, segments: Sequence[Segment]) -> None:
        """Append segments `read_segments` made (here or in another process with the same model and config)."""
        self.segments += segments
        self.chosen = None
        self._changed()

    def _read_prefix(self) -> Prefix:
        """The instruction prefix's entries, read once."""
        from transformers import DynamicCache

        if self.prefix is not None:
            return self.prefix
        compressor = make_compressor(self.config.compressor, self.config.pool_kernel)
        prefix_ids = self.tokenizer(self.frame.prefix, add_special_tokens=False)["input_ids"]
        cache = DynamicCache()
        sources = self._read_window(cache, prefix_ids, compressor, self._frequencies(), 0, len(prefix_ids), 1)
        self.prefix = Prefix([self._stored(layer.keys) for layer in cache.layers],
                             [self._stored(layer.values) for layer in cache.layers], sources)
        return self.prefix

    def _streams(self, documents: Sequence[Document]) -> list[list[int]]:
        """Each document's token ids as memorized: its header, then its text."""
        return [self.tokenizer(document_header(document) + document.text, add_special_tokens=False)["input_ids"]
                for document in documents]

    def _stored(self, tensor: torch.Tensor) -> torch.Tensor:
        """Kept in the storage dtype, in memory as in the store: half the RAM of float32 segments (a 1M-token
        memory holds gigabytes), and the answers of this process equal those after a load. `lay_out` hands the
        model its own dtype."""
        return tensor.to(STORAGE_DTYPE).contiguous()

    def _betas(self, lengths: Sequence[int]) -> list[int]:
        """One beta for all new documents when they fit beside the memory there, else one per document alone, at
        least ROUTED_BETA when the beta is automatic."""
        used = self.entries
        try:
            return [choose_beta(sum(lengths), used, self.config, self.native_window)] * len(lengths)
        except MemoryBudgetError:
            if not self.segments and len(lengths) == 1:
                raise
        return [choose_beta(length, self.protected, self.config, self.native_window, least=ROUTED_BETA)
                for length in lengths]

    @torch.no_grad()
    def _read_window(
        self, cache: Any, ids: list[int], compressor: Any, inv_freq: list[torch.Tensor], first_source: int,
        protected: int, beta: int,
    ) -> list[torch.Tensor]:
        """Prefill `ids` after the cache, compress the window by `beta` into the cache; returns the kept entries'
        sources per layer (stream token indices from `first_source`; those below `protected` are kept)."""
        memory_length = cache.get_seq_length()
        device = self.model.device
        positions = torch.arange(memory_length, memory_length + len(ids), device=device)
        n_obs = min(self.config.observation, len(ids)) if compressor.needs_queries else 0
        with capture_queries(self.model, n_obs) as queries, window_after_memory(self.model, memory_length):
            self.model.model(input_ids=torch.tensor([ids], device=device), position_ids=positions[None],
                             **cache_argument(self.model.model, cache), use_cache=True)
        sources = torch.arange(first_source, first_source + len(ids), device=device)
        is_protected = sources < protected  # the instruction prefix
        kept_sources = []
        for layer_idx, layer in enumerate(cache.layers):
            keys = layer.keys[0, :, memory_length:]  # (H_kv, W, d)
            window = WindowKV(
                keys=keys, raw_keys=rotate(keys, -positions[None, :].expand(keys.shape[0], -1), inv_freq[layer_idx]),
                values=layer.values[0, :, memory_length:], sources=sources,
                protected=is_protected, queries=queries.get(layer_idx), scaling=queries.scaling(layer_idx),
            )
            kept = compressor.compress(window, beta)
            count = kept.values.shape[1]
            compact = torch.arange(memory_length, memory_length + count, device=device)[None, :]
            compact = compact.expand(kept.values.shape[0], -1)
            new_keys = rotate(kept.raw_keys, compact, inv_freq[layer_idx])
            layer.keys = torch.cat((layer.keys[:, :, :memory_length], new_keys[None]), dim=2)
            layer.values = torch.cat((layer.values[:, :, :memory_length], kept.values[None]), dim=2)
            kept_sources.append(kept.sources)
        return kept_sources

    # ----- recall ------------------------------------------------------------------------------------
    def generate(self, task: str, options: DecodeOptions | None = None, **fields: Any) -> str:
        """Run one task prompt after the memory and return the generated text."""
        options = options or DecodeOptions(max_new_tokens=self.config.max_clue_tokens)
        prompt = self._task_prompt(task, options, fields)
        cache = self._question_cache()
        try:
            tokens = decode(self.model, cache, prompt, self.length, self._stops, options)
        finally:
            crop(cache, self.length)
        return self.tokenizer.decode(tokens, skip_special_tokens=True).strip()

    def generate_batch(
        self, tasks: Sequence[tuple[str, dict[str, Any]]], options: DecodeOptions | None = None
    ) -> list[str]:
        """Several (task, fields) prompts after the memory, decoded as one batch that shares the memory; greedy,
        the texts `generate` writes one by one (up to float rounding). The memory's cache is read, not written."""
        options = options or DecodeOptions(max_new_tokens=self.config.max_clue_tokens)
        prompts = [self._task_prompt(task, options, fields) for task, fields in tasks]
        if not prompts:
            return []
        rows = decode_batch(self.model, self._question_cache(), prompts, self.length, self._stops, options)
        return [self.tokenizer.decode(tokens, skip_special_tokens=True).strip() for tokens in rows]

    def _task_prompt(self, task: str, options: DecodeOptions, fields: dict[str, Any]) -> list[int]:
        if self.is_empty:
            from memorag.errors import NotMemorizedError

            raise NotMemorizedError("the memory is empty: call memorize() first, or load a store")
        text = self.frame.task_suffix(task, **fields)
        prompt: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if self.length + len(prompt) + options.max_new_tokens > self.native_window:
            raise MemoryBudgetError(
                f"the prompt ({len(prompt)} tokens) and {options.max_new_tokens} new tokens do not fit after "
                f"{self.length} memory entries in a {self.native_window}-token window: shorten the question"
            )
        return prompt

    def recall(self, question: str) -> list[Clue]:
        return parse_clues(self.generate("span", question=question), "span", question)

    def rewrite(self, question: str) -> list[Clue]:
        return parse_clues(self.generate("question", question=question), "question", question)

    def answer(self, question: str) -> str:
        return self.generate("answer", question=question)

    def summarize(self, count: int = 5) -> list[Clue]:
        return parse_clues(self.generate("keypoint", count=count), "keypoint", limit=count)

    def clues(self, question: str, kinds: Sequence[str] = CLUE_KINDS) -> list[Clue]:
        """One batch for all `kinds` (their prompts share the memory); `collect_clues` is the one-by-one path."""
        texts = self.generate_batch([(kind, {"question": question}) for kind in check_kinds(kinds)])
        return clues_from_texts(question, kinds, texts)

    # ----- persistence -------------------------------------------------------------------------------
    def save(self, directory: Path) -> dict[str, Any]:
        from safetensors.torch import save_file

        tensors: dict[str, torch.Tensor] = {}
        parts = [("prefix", self.prefix)] if self.prefix is not None else []
        parts += [(f"segment.{number}", segment) for number, segment in enumerate(self.segments)]
        for name, part in parts:
            for i, (k, v, s) in enumerate(zip(part.keys, part.values, part.sources, strict=True)):
                tensors[f"{name}.keys.{i}"] = k.to(STORAGE_DTYPE).cpu().contiguous()
                tensors[f"{name}.values.{i}"] = v.to(STORAGE_DTYPE).cpu().contiguous()
                tensors[f"{name}.sources.{i}"] = s.to(torch.int32).cpu().contiguous()
        save_file(tensors, str(directory / MEMORY_FILE), metadata={"format": MEMORY_FORMAT})
        segments = [{"tokens": s.tokens, "beta": s.beta, "entries": s.entries, "documents": s.documents}
                    for s in self.segments]
        return {**self.describe(), "protected": self.protected, "file": MEMORY_FILE, "format": MEMORY_FORMAT,
                "segment_list": segments}

    @classmethod
    def load(
        cls, directory: Path, state: dict[str, Any], config: MemoryConfig, model: Any = None, tokenizer: Any = None
    ) -> KVMemory:
        """A saved memory; one saved before segments (one shared stream, "memorag-kv v1") loads as one segment
        holding all `state["documents"]` documents."""
        from safetensors import safe_open

        memory = cls(config, model, tokenizer)
        path = directory / MEMORY_FILE
        try:
            with safe_open(str(path), framework="pt") as handle:
                layers = len(memory.model.model.layers)
                device = memory.model.device

                def part(name: str) -> tuple[list[torch.Tensor], ...]:  # kept as stored (memorize's _stored)
                    return tuple([handle.get_tensor(f"{name}{field}.{i}").to(device, kind) for i in range(layers)]
                                 for field, kind in (("keys", STORAGE_DTYPE), ("values", STORAGE_DTYPE),
                                                     ("sources", torch.long)))

                if (handle.metadata() or {}).get("format") == MEMORY_FORMAT:
                    memory.prefix = Prefix(*part("prefix."))
                    for number, row in enumerate(state["segment_list"]):
                        keys, values, sources = part(f"segment.{number}.")
                        memory.segments.append(Segment(row["tokens"], row["beta"], keys, values, sources,
                                                       row["documents"]))
                else:
                    memory._load_shared_stream(part(""), state)
        except (KeyError, TypeError) as exc:
            raise StoreCorruptError(f"{path} does not match its manifest ({exc}): the store is damaged; "
                                    "memorize again") from exc
        except Exception as exc:  # safetensors raises several types for a truncated or foreign file
            raise StoreCorruptError(f"{path} is unreadable ({exc.__class__.__name__}: {exc}); memorize again") from exc
        if memory.entries != state.get("entries"):
            raise StoreCorruptError(f"{path} holds {memory.entries} entries, the manifest {state.get('entries')}: "
                                    "the store is damaged; memorize again")
        return memory

    def _load_shared_stream(self, parts: tuple[list[torch.Tensor], ...], state: dict[str, Any]) -> None:
        """A memory of one shared stream (stores from before segments): the prefix, and one segment of the rest."""
        keys, values, sources = parts
        head = int(state["protected"])
        self.prefix = Prefix([k[:, :, :head] for k in keys], [v[:, :, :head] for v in values],
                             [s[:, :head] for s in sources])
        if keys[0].shape[2] > head:
            self.segments = [Segment(int(state["tokens_read"]) - head, int(state["beta"] or 1),
                                     [k[:, :, head:] for k in keys], [v[:, :, head:] for v in values],
                                     [s[:, head:] for s in sources], max(1, int(state.get("documents", 1))))]


def stop_ids(tokenizer: Any) -> set[int]:
    stops = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    for marker in ("<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|endoftext|>"):
        token = tokenizer.convert_tokens_to_ids(marker)
        if isinstance(token, int) and token != tokenizer.unk_token_id:
            stops.add(token)
    return stops


def newline_ids(tokenizer: Any) -> set[int]:
    """Every token holding a line break (byte-level BPE spells it "Ċ", SentencePiece "<0x0A>" or a real "\\n")."""
    vocab = tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else {}
    return {index for token, index in vocab.items() if "\n" in token or "Ċ" in token or token == "<0x0A>"}


def _progress(total: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="tok", desc="memorize", disable=not enabled, dynamic_ncols=True)


def memory_bytes_per_entry(model_config: Any) -> int:
    """Bytes one memory entry costs on disk (float16) across all layers and KV heads."""
    heads = getattr(model_config, "num_key_value_heads", model_config.num_attention_heads)
    head_dim = getattr(model_config, "head_dim", model_config.hidden_size // model_config.num_attention_heads)
    return model_config.num_hidden_layers * heads * head_dim * 2 * STORAGE_DTYPE.itemsize


__all__ = ["ROUTED_BETA", "KVMemory", "choose_beta", "memory_bytes_per_entry"]
