"""Configuration as frozen dataclasses; each is saved as JSON in a store's manifest and read back from it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, TypeVar

T = TypeVar("T")

BETAS = (1, 2, 4, 8, 16, 32, 64)
COMPRESSORS = ("snapkv", "mean", "recent")
MEMORY_KINDS = ("kv", "gist", "full", "none")
FUSIONS = ("union", "rrf")
RETRIEVERS = ("dense", "bm25", "hybrid")
INDEXES = ("auto", "exact", "ivf", "hnsw", "lancedb")  # memorag.retrieval.index; docs/scale.md, "Index"


@dataclass(frozen=True)
class MemoryConfig:
    """How the memory model reads the context into its global memory (see docs/architecture.md).

    kind: "kv" the windowed, compressed KV cache; "gist" (MemoRAG-Lite) the model first writes a gist of each
    `gist_chunk_tokens` of text and memorizes the gists as a kv memory; "full" the plain KV cache (beta 1, the
    context must fit the window); "none" no memory, the generator writes clues without context (HyDE-like).
    beta: compression ratio of each window's KV entries (1 keeps all); None picks the smallest ratio in
    BETAS whose memory fits the model's window with room for the working window.
    """

    model: str = "smollm2"
    kind: str = "kv"
    beta: int | None = None
    compressor: str = "snapkv"
    window: int = 2048  # tokens prefilled at once; each window is compressed before the next is read
    observation: int = 32  # last tokens of a window whose attention scores its keys (snapkv)
    pool_kernel: int = 7  # max-pool width over scores, keeps neighbours of salient tokens (snapkv)
    reserve: int = 768  # positions kept free for a recall prompt and its generated clues
    max_clue_tokens: int = 128
    gist_chunk_tokens: int = 512  # memory-model tokens of text summarized into one gist (kind "gist")
    gist_tokens: int = 96  # most tokens of one gist
    device: str = "cpu"
    dtype: str = "float32"
    adapter: str | None = None  # a LoRA adapter directory (memorag train) merged into the memory model

    def __post_init__(self) -> None:
        if self.kind not in MEMORY_KINDS:
            raise ValueError(f"memory kind must be one of {MEMORY_KINDS}, not {self.kind!r}")
        if self.beta is not None and self.beta not in BETAS:
            raise ValueError(f"beta must be one of {BETAS} or None (auto), not {self.beta}")
        if self.compressor not in COMPRESSORS:
            raise ValueError(f"compressor must be one of {COMPRESSORS}, not {self.compressor!r}")
        if self.window < 8:
            raise ValueError(f"window must be at least 8 tokens, not {self.window}")


@dataclass(frozen=True)
class RetrievalConfig:
    """Chunking and search. The default chunk fits all-MiniLM-L6-v2, which reads at most 256 tokens.

    retriever: "dense" the embedder + FAISS, "bm25" the lexical index, "hybrid" both fused by reciprocal
    rank, the BM25 ranking weighted `bm25_weight` against the dense one's 1. Every store holds both indexes,
    so its retriever can change without memorizing again. `language`: the lexical index's stemmer and stop
    words (a PyStemmer language, or "none").
    index: the vector index: "exact" FAISS flat search; "ivf" or "hnsw" FAISS approximate search, tuned to
    recall@10 >= 0.95 on the store's own vectors; "lancedb" a LanceDB table in the store (`memorag[lancedb]`);
    "auto" exact below `approximate_after` chunks and IVF from there (docs/scale.md, "Index").
    """

    embedder: str = "minilm"
    chunk_tokens: int = 200
    chunk_overlap: int = 32
    top_k: int = 3
    fusion: str = "union"  # how question and clue hits combine: "union" of each one's top_k, or "rrf" top_k
    question_weight: float = 1.0  # the question's weight against each clue's in "rrf"
    retriever: str = "hybrid"  # chosen on the train halves of five sets (docs/architecture.md, "The judge")
    bm25_weight: float = 1.0
    language: str = "english"
    batch_size: int = 32
    device: str = "cpu"
    index: str = "auto"
    approximate_after: int = 50_000  # chunks; exact search of 50k takes 2.8 ms a query on one thread

    def __post_init__(self) -> None:
        if self.index not in INDEXES:
            raise ValueError(f"index must be one of {INDEXES}, not {self.index!r}")
        if self.approximate_after < 1:
            raise ValueError(f"approximate_after must be at least 1 chunk, not {self.approximate_after}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, not {self.fusion!r}")
        if self.retriever not in RETRIEVERS:
            raise ValueError(f"retriever must be one of {RETRIEVERS}, not {self.retriever!r}")
        if self.bm25_weight < 0:
            raise ValueError(f"bm25_weight must be at least 0, not {self.bm25_weight}")
        if not 0 <= self.chunk_overlap < self.chunk_tokens:
            raise ValueError("chunk_overlap must be at least 0 and smaller than chunk_tokens")
        if self.top_k < 1:
            raise ValueError("top_k must be at least 1")


JUDGE_CONTEXTS = ("passage", "memory")
ANSWER_STYLES = ("generate", "quote")
GENERATION_BACKENDS = ("auto", "local", "llamacpp", "openai")
LLAMACPP_WEIGHTS = ("auto", "float16", "file")  # memorag.generation.llamacpp's "Weights"


@dataclass(frozen=True)
class JudgeConfig:
    """The judge of `memorag` mode (memorag.retrieval.judge): a causal LM re-ranks a candidate pool of passages by
    the mean log-probability of the question after each passage and keeps top_k, so the generator reads as many
    passages as `rag` hands it.

    model: "memory" the memory model itself, "none" no judge (memorag reads the union of every query's top_k, as
    MemoRAG's paper does), or any causal LM name (e.g. "gemma3-270m"). pool: the question's candidates from the
    store's retriever; every clue adds its top `clue_hits` from each index (dense and BM25). passage_tokens: each
    passage is cut to this many of the judge's tokens. context: "passage" the prompt alone, "memory" the prompt
    after the global memory's KV cache (kv memories). prior: each passage ranks by its judge rank plus `prior`
    times its rank in the pool (the question's hits in the retriever's order, then the clues'), so 0 is the judge
    alone and a large prior keeps the retriever's order. Not stored: the judge can change without memorizing again.
    """

    model: str = "memory"
    pool: int = 10  # chosen on the train halves: pool 10 beat 20 (answer R@3 53.5 against 51.5) at half the cost
    clue_hits: int = 3
    passage_tokens: int = 192
    batch_size: int = 4
    context: str = "passage"
    prior: float = 0.0  # weight of the pool's own order (the retriever's ranking) against the judge's ranking

    def __post_init__(self) -> None:
        if self.prior < 0:
            raise ValueError(f"judge prior must be at least 0, not {self.prior}")
        if self.pool < 1 or self.clue_hits < 0:
            raise ValueError(f"judge pool must be at least 1 and clue_hits at least 0, not {self.pool}, {self.clue_hits}")
        if self.passage_tokens < 8 or self.batch_size < 1:
            raise ValueError("judge passage_tokens must be at least 8 and batch_size at least 1")
        if self.context not in JUDGE_CONTEXTS:
            raise ValueError(f"judge context must be one of {JUDGE_CONTEXTS}, not {self.context!r}")

    @property
    def enabled(self) -> bool:
        return self.model != "none"


@dataclass(frozen=True)
class GenerationConfig:
    """The generator: `backend` "local" loads `model` with transformers; "llamacpp" runs a GGUF `model` (an
    embedded name or a .gguf file) with llama.cpp in this process; "openai" calls an HTTP server; "auto" (the
    default) is llamacpp for a GGUF model on the CPU (it writes an answer about 1.8x faster than transformers on
    the embedded SmolLM2, docs/benchmarks.md) and local otherwise.

    For "openai", `model` is the served model name and `base_url` the server (e.g. http://127.0.0.1:8000/v1);
    the API key is read from the environment variable named by `api_key_env` at the edge (CLI), never here.
    answer: "generate" the generator writes the answer from the evidence; "quote" the evidence sentence the judge
    (JudgeConfig; the memory model when it is "none") finds the question most likely after, quoted with its
    passage number (memorag.generation.quote): no generator runs.
    llamacpp_weights: what llama.cpp runs: "auto" (default) a float16 copy of a quantized GGUF of up to 1 GiB,
    written once into the weights cache (about 2x faster prompts on CPUs, the dequantized model's logits), the
    file as given for larger ones; "float16" always the copy; "file" always the file.
    """

    backend: str = "auto"
    model: str = "smollm2"
    base_url: str | None = None
    api_key: str | None = None
    context_window: int | None = None  # None: the local model's own; required sense for HTTP servers
    max_new_tokens: int = 128
    temperature: float = 0.0
    device: str = "cpu"
    dtype: str = "float32"
    answer: str = "generate"
    llamacpp_weights: str = "auto"

    def __post_init__(self) -> None:
        if self.llamacpp_weights not in LLAMACPP_WEIGHTS:
            raise ValueError(f"llamacpp_weights must be one of {LLAMACPP_WEIGHTS}, not {self.llamacpp_weights!r}")
        if self.answer not in ANSWER_STYLES:
            raise ValueError(f"answer must be one of {ANSWER_STYLES}, not {self.answer!r}")
        if self.backend not in GENERATION_BACKENDS:
            raise ValueError(f"backend must be one of {GENERATION_BACKENDS}, not {self.backend!r}")
        if self.backend == "openai" and not self.base_url:
            raise ValueError("the openai backend needs base_url, e.g. http://127.0.0.1:8000/v1")


def config_to_dict(config: Any) -> dict[str, Any]:
    data = asdict(config)
    data.pop("api_key", None)  # never persist secrets
    if "adapter" in data and data["adapter"] is None:
        del data["adapter"]  # without one, manifests, run.json and store hashes stay as before adapters existed
    for key in ("index", "approximate_after"):  # likewise for the vector index's settings at their defaults
        if key in data and data[key] == getattr(RetrievalConfig, key):
            del data[key]
    return data


def config_from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Rebuild a config, ignoring keys this version does not know (a newer minor release may add some)."""
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in known})
