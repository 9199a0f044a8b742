"""OnnxEmbedder: MeanPoolingEmbedder's vectors from onnxruntime, so that embedding a question needs no torch.

Importing torch and transformers costs about 3 s of every fresh process on two cores, more than a `rag` question
takes to answer. The encoder of a mean-pooled sentence-transformers folder (MiniLM by default) is exported to
ONNX once, by torch's exporter, into the weights cache (memorag.weights_cache, dtype "onnx-float32": model.onnx
and its external weights, checked on every load like any entry); afterwards onnxruntime runs it and the
`tokenizers` library (what transformers' fast tokenizers wrap) reads tokenizer.json, so neither torch nor
transformers is imported until something else needs them. Vectors equal MeanPoolingEmbedder's within float32
rounding (tested, atol 2e-5).

`tokenizer`, the transformers fast tokenizer that chunking needs, is loaded on first use: memorize needs it,
a question does not. Threads: memorag.threads. CPU only (other devices use MeanPoolingEmbedder).
Does not handle: models whose forward takes inputs other than the tokenizer's ids, attention mask and token types.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from memorag.errors import UnknownModelError
from memorag.retrieval.embedders import embed_longest_first

EXPORT_DTYPE = "onnx-float32"  # the weights cache's dtype key of the exports
MODEL_FILE = "model.onnx"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def onnx_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "tokenizers", "onnxscript"))


def _export(source: Path, folder: Path) -> None:
    """Write the encoder of `source` as ONNX into a weights-cache folder (dynamic batch and sequence axes)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(source)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    names = [name for name in INPUTS if name in tokenizer.model_input_names]
    sample = tokenizer(["an example sentence to export", "a second one"], padding=True, return_tensors="pt")
    batch, length = torch.export.Dim("batch"), torch.export.Dim("sequence")
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # the exporter's progress lines
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, tuple(sample[name] for name in names), str(folder / MODEL_FILE), input_names=names,
            output_names=["last_hidden_state"], dynamic_shapes=tuple({0: batch, 1: length} for _ in names),
            dynamo=True, external_data=True,
        )
    (folder / "inputs.json").write_text(json.dumps(names), encoding="utf-8")


@functools.lru_cache(maxsize=4)
def load_session(name: str, path: str, threads: int) -> tuple[Any, list[str]]:
    """(onnxruntime session, its input names) of the export of `path`, made on first use; once per process."""
    from memorag import weights_cache
    from memorag.models import resolve
    from memorag.quiet import captured_stderr

    source = Path(path)
    with captured_stderr():
        folder = weights_cache.cached_weights(resolve(name).fingerprint(), EXPORT_DTYPE, str(source),
                                              functools.partial(_export, source))
    if folder is None:
        raise UnknownModelError(f"the weights cache holds a folder that is not memorag's where the ONNX export of "
                                f"{name!r} belongs: run `memorag cache info`, or embed with the torch runtime")
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    session = onnxruntime.InferenceSession(str(folder / MODEL_FILE), options, providers=["CPUExecutionProvider"])
    return session, json.loads((folder / "inputs.json").read_text(encoding="utf-8"))


def _pad_token(path: Path) -> str | None:
    try:
        token = json.loads((path / "special_tokens_map.json").read_text(encoding="utf-8")).get("pad_token")
    except (OSError, ValueError):
        return None
    return token.get("content") if isinstance(token, dict) else token


class OnnxEmbedder:
    """An Embedder giving MeanPoolingEmbedder's vectors (mean of the last hidden states over real tokens, unit
    length) from an ONNX export of the encoder."""

    def __init__(self, name: str, path: str, settings: dict[str, Any], batch_size: int = 32) -> None:
        from tokenizers import Tokenizer

        from memorag.threads import cpu_threads

        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        self.model_id, self.path, self.batch_size = name, Path(path), batch_size
        config = json.loads((self.path / "config.json").read_text(encoding="utf-8"))
        self.dimension = int(config["hidden_size"])
        self.max_tokens = int(settings.get("max_seq_length") or config.get("max_position_embeddings", 512))
        self.lowercase = bool(settings.get("do_lower_case"))
        self._session, self._inputs = load_session(name, path, cpu_threads())
        self._fast = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        self._fast.enable_truncation(self.max_tokens)
        pad = _pad_token(self.path)
        pad_id = self._fast.token_to_id(pad) if pad else None
        self._fast.enable_padding(pad_id=pad_id or 0, pad_token=pad or "[PAD]")
        processor = self._fast.post_processor
        self.special_tokens = int(processor.num_special_tokens_to_add(False)) if processor is not None else 0

    @functools.cached_property
    def tokenizer(self) -> Any:
        """The transformers fast tokenizer of the folder, for chunking (loaded on first use: it imports torch)."""
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(self.path))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts` in batches (longest first): float32 (len(texts), dimension), rows of unit length."""
        return embed_longest_first(texts, self.dimension, self.batch_size, self.lowercase, self._mean_pooled)

    def _mean_pooled(self, texts: list[str]) -> np.ndarray:
        encoded = self._fast.encode_batch(texts)
        fields = {
            "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
        }
        hidden = self._session.run(None, {name: fields[name] for name in self._inputs})[0]  # (B, T, D)
        mask = fields["attention_mask"][..., None].astype(np.float32)  # (B, T, 1)
        return (hidden * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)  # (B, D)

    def __repr__(self) -> str:
        return f"OnnxEmbedder({self.model_id!r}, dimension={self.dimension})"
