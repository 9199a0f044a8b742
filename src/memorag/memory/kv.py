"""The `kv` global memory: the memory model's KV cache, compressed window by window (MemoRAG section 2.2).

The context is prefilled `window` tokens at a time. Each window attends to the memory kept so far plus itself;
afterwards its KV entries are compressed by `beta` and only the kept entries join the memory. Positions are
*compact*: memory entry i sits at position i, whatever token it came from, so a context far longer than the
model's native window fits as long as its compressed memory does. Kept keys are re-rotated to their compact
position (rope.py); each entry remembers the source token it came from (`sources`, per layer and KV head).

Not here: recompressing old memory when it grows past the window (we refuse with a beta that fits), and
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
from memorag.models import cache_argument
from memorag.types import Clue, Document

MEMORY_FILE = "memory.safetensors"
STORAGE_DTYPE = torch.float16  # halves the store; memory is rounded through it at once so answers match on load


def document_header(document: Document) -> str:
    return f"\n\n### {Path(document.source).name}\n"


def choose_beta(tokens: int, used: int, config: MemoryConfig, native_window: int) -> int:
    """The smallest beta whose memory leaves room for the working window and a recall prompt."""
    free = native_window - max(config.window, config.reserve) - used
    windows = math.ceil(tokens / config.window)
    candidates = [config.beta] if config.beta else list(BETAS)
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
        self.beta: int | None = config.beta
        self.keys: list[torch.Tensor] = []  # per layer (1, H_kv, M, d), rotated at positions 0..M-1
        self.values: list[torch.Tensor] = []  # per layer (1, H_kv, M, d)
        self.sources: list[torch.Tensor] = []  # per layer (H_kv, M) source token index of each entry
        self.tokens_read = 0  # length of the memorized token stream (prompt prefix included)
        self.protected = 0  # entries of the instruction prefix, never compressed
        self._cache: Any = None

    # ----- state -------------------------------------------------------------------------------------
    @property
    def is_empty(self) -> bool:
        return self.tokens_read == 0

    @property
    def length(self) -> int:
        return self.keys[0].shape[2] if self.keys else 0

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * STORAGE_DTYPE.itemsize for t in (*self.keys, *self.values))

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "model": self.config.model, "beta": self.beta, "compressor": self.config.compressor,
            "window": self.config.window, "tokens_read": self.tokens_read, "entries": self.length,
            "bytes": self.nbytes, "native_window": self.native_window,
        }

    def _question_cache(self) -> Any:
        from transformers import DynamicCache

        if self._cache is None:
            self._cache = DynamicCache(ddp_cache_data=list(zip(self.keys, self.values)))
        return self._cache

    # ----- memorize ----------------------------------------------------------------------------------
    def memorize(self, documents: Sequence[Document], progress: bool = False) -> dict[str, float]:
        from transformers import DynamicCache

        started = time.perf_counter()
        stream: list[int] = []
        if self.is_empty:
            stream = self.tokenizer(self.frame.prefix, add_special_tokens=False)["input_ids"]
            self.protected = len(stream)
        for document in documents:
            text = document_header(document) + document.text
            stream += self.tokenizer(text, add_special_tokens=False)["input_ids"]
        self.beta = choose_beta(len(stream), self.length, self.config, self.native_window)
        compressor = make_compressor(self.config.compressor, self.config.pool_kernel)
        inv_freq = inverse_frequencies(self.model)
        cache = DynamicCache(ddp_cache_data=list(zip(self.keys, self.values))) if self.keys else DynamicCache()
        bar = _progress(len(stream), progress)
        for start in range(0, len(stream), self.config.window):
            ids = stream[start : start + self.config.window]
            self._read_window(cache, ids, compressor, inv_freq)
            bar.update(len(ids))
        bar.close()
        # Round through the storage dtype now, so the answers of this process equal those after a load.
        self.keys = [layer.keys.to(STORAGE_DTYPE).to(self.model.dtype) for layer in cache.layers]
        self.values = [layer.values.to(STORAGE_DTYPE).to(self.model.dtype) for layer in cache.layers]
        self._cache = None
        return {"memory_prefill": time.perf_counter() - started}

    @torch.no_grad()
    def _read_window(self, cache: Any, ids: list[int], compressor: Any, inv_freq: list[torch.Tensor]) -> None:
        memory_length, first_source = cache.get_seq_length(), self.tokens_read
        device = self.model.device
        positions = torch.arange(memory_length, memory_length + len(ids), device=device)
        n_obs = min(self.config.observation, len(ids)) if compressor.needs_queries else 0
        with capture_queries(self.model, n_obs) as queries, window_after_memory(self.model, memory_length):
            self.model.model(input_ids=torch.tensor([ids], device=device), position_ids=positions[None],
                             **cache_argument(self.model.model, cache), use_cache=True)
        sources = torch.arange(first_source, first_source + len(ids), device=device)
        protected = sources < self.protected  # the instruction prefix, whichever windows it spans
        for layer_idx, layer in enumerate(cache.layers):
            keys = layer.keys[0, :, memory_length:]  # (H_kv, W, d)
            window = WindowKV(
                keys=keys, raw_keys=rotate(keys, -positions[None, :].expand(keys.shape[0], -1), inv_freq[layer_idx]),
                values=layer.values[0, :, memory_length:], sources=sources,
                protected=protected, queries=queries.get(layer_idx), scaling=queries.scaling(layer_idx),
            )
            kept = compressor.compress(window, self.beta or 1)
            count = kept.values.shape[1]
            compact = torch.arange(memory_length, memory_length + count, device=device)[None, :]
            compact = compact.expand(kept.values.shape[0], -1)
            new_keys = rotate(kept.raw_keys, compact, inv_freq[layer_idx])
            layer.keys = torch.cat((layer.keys[:, :, :memory_length], new_keys[None]), dim=2)
            layer.values = torch.cat((layer.values[:, :, :memory_length], kept.values[None]), dim=2)
            if layer_idx < len(self.sources):
                self.sources[layer_idx] = torch.cat((self.sources[layer_idx], kept.sources), dim=1)
            else:
                self.sources.append(kept.sources)
        self.tokens_read += len(ids)

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
        for i, (k, v, s) in enumerate(zip(self.keys, self.values, self.sources)):
            tensors[f"keys.{i}"] = k.to(STORAGE_DTYPE).cpu().contiguous()
            tensors[f"values.{i}"] = v.to(STORAGE_DTYPE).cpu().contiguous()
            tensors[f"sources.{i}"] = s.to(torch.int32).cpu().contiguous()
        save_file(tensors, str(directory / MEMORY_FILE), metadata={"format": "memorag-kv v1"})
        return {**self.describe(), "protected": self.protected, "file": MEMORY_FILE}

    @classmethod
    def load(
        cls, directory: Path, state: dict[str, Any], config: MemoryConfig, model: Any = None, tokenizer: Any = None
    ) -> KVMemory:
        from safetensors import safe_open

        memory = cls(config, model, tokenizer)
        try:
            with safe_open(str(directory / MEMORY_FILE), framework="pt") as handle:
                layers = len(memory.model.model.layers)
                device, dtype = memory.model.device, memory.model.dtype
                memory.keys = [handle.get_tensor(f"keys.{i}").to(device, dtype) for i in range(layers)]
                memory.values = [handle.get_tensor(f"values.{i}").to(device, dtype) for i in range(layers)]
                memory.sources = [handle.get_tensor(f"sources.{i}").to(device, torch.long) for i in range(layers)]
        except Exception as exc:  # safetensors raises several types for a truncated or foreign file
            raise StoreCorruptError(
                f"{directory / MEMORY_FILE} is unreadable ({exc.__class__.__name__}: {exc}); memorize again"
            ) from exc
        if memory.length != state.get("entries"):
            raise StoreCorruptError(f"{directory / MEMORY_FILE} holds {memory.length} entries, the manifest "
                                    f"{state.get('entries')}: the store is damaged; memorize again")
        memory.beta, memory.tokens_read, memory.protected = state["beta"], state["tokens_read"], state["protected"]
        return memory


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


__all__ = ["KVMemory", "choose_beta", "memory_bytes_per_entry"]
