"""MemoRAG: memorize -> recall clues -> retrieve -> generate (paper section 2, Figure 2).

Modes of `ask`:
  memorag  the memory model at work: its clues (any recall strategy, or none) widen the question's candidate pool
           with their hits from both indexes, and the judge (the memory model by default, memorag.retrieval.judge)
           keeps the top_k passages it finds the question most likely after; without a judge
           (`JudgeConfig(model="none")`) the union of every query's top_k, as MemoRAG's paper reads it
  rag      the question alone queries the index, top_k passages (retrieval without the memory model)
  memory   the memory model answers from its memory alone (MemoRAG's "qa" task)
  full     the generator reads the whole context, cut in the middle to its window (LongBench's baseline)
`summarize` asks the memory for key points, retrieves with them and has the generator write the summary.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

from memorag import __version__
from memorag.config import (
    ANSWER_STYLES,
    GenerationConfig,
    JudgeConfig,
    MemoryConfig,
    RetrievalConfig,
    config_from_dict,
    config_to_dict,
)
from memorag.durable import DEFAULT_LOCK_TIMEOUT
from memorag.errors import (
    DocumentNotFoundError,
    EmptyStoreError,
    NotMemorizedError,
    StoreChangedError,
    StoreExistsError,
)
from memorag.inputs import Input, SkippedFile, read_inputs
from memorag.memory.base import Memory
from memorag.memory.registry import check_memory_state, load_memory, make_memory
from memorag.models import model_fingerprint
from memorag.recall.base import RecallConfig
from memorag.types import Answer, Clue, Document, EvidencePassage

MODES = ("memorag", "rag", "memory", "full")
EXECUTORS = ("local", "ray")  # who memorizes: this process, or Ray actors (memorag.distributed)
ROUTING_HITS = 20  # retrieval hits whose documents a routed memory reads first
LOAD_ATTEMPTS = 5  # reads of the manifest when a writer keeps replacing the store under a reader

ANSWER_SYSTEM = "You answer questions about a text using the passages given. Answer briefly and exactly."
# where passages are numbered; of three wordings tried, the one that changed SmolLM2-135M's answers least
CITE_SYSTEM = " After the answer, write the number of the passage it comes from in brackets, like [1]."
SUMMARY_SYSTEM = "You write faithful summaries of a text from the passages given."


def evidence_prompt(evidence: Sequence[EvidencePassage]) -> str:
    return "\n\n".join(f"[{i}] {passage.text.strip()}" for i, passage in enumerate(evidence, 1))


def _waiting_message(message: str) -> None:
    import sys

    print(f"memorag: {message}", file=sys.stderr, flush=True)


def answer_messages(question: str, context: str, cite: bool = True) -> list[dict[str, str]]:
    """The generator's chat messages for a question over `context` (evidence passages or the whole text); `cite`
    asks for the numbers of the passages used, as [n] (off for the whole text: it has no numbered passages)."""
    user = f"Passages:\n{context}\n\nQuestion: {question}\nAnswer the question in a few words, using the passages."
    system = ANSWER_SYSTEM + (CITE_SYSTEM if cite else "")
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


TEXT_NAME = re.compile(r"text-(\d+)")  # the names read_inputs gives texts passed as strings


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def next_text_number(documents: Sequence[Document]) -> int:
    """The first N for which no held document is named `text-N` or later (deleted texts leave gaps)."""
    numbers = [int(match[1]) for d in documents if (match := TEXT_NAME.fullmatch(d.source))]
    return max([len(documents) - 1, *numbers]) + 1


def sort_out(held: Sequence[Document], new: Sequence[Document]) -> tuple[list[Document], list[int]]:
    """(the new documents to memorize, indices of held documents they replace). A new document equal to a held
    one (same source and text; for unnamed texts the same text) is dropped; one whose source is held with other
    text replaces it; repeats within `new` count once."""
    by_source = {document.source: index for index, document in enumerate(held)}
    unnamed = {document.text for document in held if TEXT_NAME.fullmatch(document.source)}
    keep: list[Document] = []
    replaced: list[int] = []
    seen: set[tuple[str, str]] = set()
    for document in new:
        key = (document.source, document.text)
        index = by_source.get(document.source)
        if key in seen or (index is not None and held[index].text == document.text):
            continue
        if TEXT_NAME.fullmatch(document.source) and document.text in unnamed:
            continue
        seen.add(key)
        if index is not None:
            replaced.append(index)
        keep.append(document)
    return keep, replaced


class MemoRAG:
    """The whole pipeline. `MemoRAG()` uses the embedded CPU models and needs no network."""

    def __init__(
        self,
        memory: MemoryConfig | None = None,
        retrieval: RetrievalConfig | None = None,
        generation: GenerationConfig | None = None,
        memory_adapter: str | Path | None = None,
        recall: RecallConfig | None = None,
        judge: JudgeConfig | None = None,
    ) -> None:
        self.memory_config = memory or MemoryConfig()
        if memory_adapter is not None:  # a LoRA adapter directory (memorag train): same as MemoryConfig(adapter=)
            self.memory_config = replace(self.memory_config, adapter=str(memory_adapter))
        self.retrieval_config = retrieval or RetrievalConfig()
        self.generation_config = generation or GenerationConfig()
        self.recall_config = recall or RecallConfig()  # the default strategy of ask/recall and its settings
        self.judge_config = judge or JudgeConfig()  # the judge of memorag mode; not stored
        self._memory: Memory | None = None
        self._saved_memory: tuple[Path, dict[str, Any]] | None = None  # (revision folder, state): read on first use
        self._retriever: Any = None
        self._generator: Any = None
        self.documents: list[Document] = []
        self.timings: dict[str, float] = {}
        self.skipped_inputs: list[SkippedFile] = []  # folder files the last memorize call could not read
        self._origin: tuple[Path, str | None, int] | None = None  # (store, revision, documents) we match

    # ----- parts, built when first needed --------------------------------------------------------------
    @property
    def memory(self) -> Memory:
        if self._memory is None and self._saved_memory is not None:
            for _ in range(LOAD_ATTEMPTS):  # a writer may replace the store again while we move to its new revision
                self._memory = self._read_saved_memory()
                if self._memory is not None:
                    break
            else:
                raise StoreChangedError(f"{self._origin[0] if self._origin else 'the store'} was replaced "
                                        f"{LOAD_ATTEMPTS} times while its memory was read: MemoRAG.load it again")
        if self._memory is None:
            generator = self.generator if self.memory_config.kind == "none" else None
            self._memory = make_memory(self.memory_config, generator, *self._memory_model())
        return self._memory

    def _read_saved_memory(self) -> Memory | None:
        """The loaded store's memory, read when first needed: a `rag` question needs neither it nor the memory
        model, and so never imports torch. When a writer has replaced the store's revision since `load` (its
        files are gone), this pipeline moves to the store's current revision whole (documents, index, memory)."""
        folder, state = self._saved_memory  # type: ignore[misc]
        generator = self.generator if self.memory_config.kind == "none" else None
        try:
            memory = load_memory(folder, state, self.memory_config, generator, *self._memory_model())
        except Exception:
            if folder.is_dir() or self._origin is None:
                raise  # a damaged store, or other models: as it is
            self._adopt(MemoRAG.load(self._origin[0], self.generation_config, self.memory_config.device,
                                     recall=self.recall_config, judge=self.judge_config))
            return None  # self._saved_memory is the new revision's now: the caller reads it
        self._saved_memory = None
        return memory

    def _memory_model(self) -> tuple[Any, Any]:
        """(model, tokenizer) of the memory when an adapter is set; (None, None) lets the memory load the base."""
        config = self.memory_config
        if not config.adapter or config.kind == "none":
            return None, None
        from memorag.models import load_adapted_lm

        return load_adapted_lm(config.model, config.adapter, config.device, config.dtype)

    @property
    def retriever(self) -> Any:
        if self._retriever is None:
            from memorag.retrieval import Retriever, make_embedder

            config = self.retrieval_config
            embedder = make_embedder(config.embedder, config.device, config.batch_size)
            self._retriever = Retriever(embedder, config)
        return self._retriever

    @property
    def generator(self) -> Any:
        if self._generator is None:
            from memorag.generation import from_config

            self._generator = from_config(self.generation_config)
        return self._generator

    @generator.setter
    def generator(self, generator: Any) -> None:
        """Use this generator object (a Generator) from now on: one that other pipelines share, e.g. the one a
        server hands every store it holds, so that one model answers for all of them."""
        self._generator = generator

    def judge(self, config: JudgeConfig | None = None) -> Any:
        """The judge of `config` (None: the pipeline's): a QueryLikelihoodJudge on the memory model ("memory": the
        memory's own loaded model, adapter included) or on the named causal LM."""
        from memorag.models import load_causal_lm
        from memorag.retrieval.judge import QueryLikelihoodJudge

        config = config or self.judge_config
        if not config.enabled:
            raise ValueError("this judge config has model 'none': there is no judge to use")
        if config.context == "memory" and config.model not in ("memory", self.memory_config.model):
            raise ValueError(f"judge context 'memory' reads the memory's KV cache, which only the memory model "
                             f"({self.memory_config.model!r}) can read; judge model {config.model!r} cannot")
        name = self.memory_config.model if config.model == "memory" else config.model
        if config.model == "memory" and self.memory_config.kind != "none" and (
            self._memory is not None or config.context == "memory" or self.memory_config.adapter
        ):
            from memorag.recall.base import memory_reader

            reader = memory_reader(self.memory)
            model, tokenizer = reader.model, reader.tokenizer
        else:  # the memory model as load_causal_lm caches it: the memory, not yet read, would load that same object
            model, tokenizer = load_causal_lm(name, self.memory_config.device, self.memory_config.dtype)
        return QueryLikelihoodJudge(model, tokenizer, config, name)

    def _judge_memory(self, config: JudgeConfig) -> Any:
        """(keys, values) of the global memory for context "memory"; None for context "passage"."""
        if config.context != "memory":
            return None
        from memorag.recall.base import memory_reader

        reader = memory_reader(self.memory)  # ValueError for kind "none", which keeps no KV cache
        return reader.keys, reader.values

    # ----- memorize, save, load ------------------------------------------------------------------------
    def memorize(
        self, inputs: Input | Sequence[Input], store: str | Path | None = None, progress: bool = False,
        encoding: str = "utf-8", append: bool = False, overwrite: bool = False,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT, executor: str = "local", ray_address: str = "auto",
        workers: int | None = None,
    ) -> dict[str, float]:
        """Read texts (str), files or folders (Path) into memory and index; with `store`, save there.

        Calling it again appends: earlier documents stay in memory and in the index. With `store`, the store's
        write lock is held from reading to saving, so concurrent writers queue instead of losing documents:
        a store this pipeline was loaded from (or `append=True`: any store, created when absent) gets the
        documents added to its newest revision; another existing store is replaced only with `overwrite=True`;
        a path that is not a store is refused untouched (NotOursError).

        `executor="ray"`: `workers` Ray actors (None: one per CPU of the cluster at `ray_address`) memorize and
        embed the documents, and this process commits them (memorag.distributed; memory kinds kv and full).
        """
        if executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {EXECUTORS}, not {executor!r}")
        path = None if store is None else Path(store)
        if path is not None:
            from memorag.store import refuse_non_store

            refuse_non_store(path)  # before the lock file is made beside it, Ray connects or any model loads
        with self._executor(executor, ray_address, workers) as cluster:
            if path is None:
                return self._memorize(self._read_inputs(inputs, encoding), progress, cluster)
            from memorag.store import is_store, store_lock

            with store_lock(path, lock_timeout, _waiting_message if progress else None):
                self._prepare_write(path, append, overwrite)
                timings = self._memorize(self._read_inputs(inputs, encoding), progress, cluster)
                if not timings and is_store(path):
                    return timings  # every document is already there, unchanged: nothing to write
                started = time.perf_counter()
                self._write(path)  # the manifest records the timings above; its own save time is not in it
                timings["save"] = time.perf_counter() - started
                self.timings["save"] = self.timings.get("save", 0.0) + timings["save"]
        return timings

    def _executor(self, executor: str, ray_address: str, workers: int | None) -> AbstractContextManager[Any]:
        """None for the local executor; a connected memorag.distributed.RayCluster for "ray"."""
        if executor == "local":
            return nullcontext()
        from memorag.distributed import check_kind, connect

        check_kind(self.memory_config)  # before connecting; checked again once a store is read
        return connect(ray_address, workers)

    def _read_inputs(self, inputs: Input | Sequence[Input], encoding: str) -> list[Document]:
        batch = read_inputs(inputs, encoding, first_number=next_text_number(self.documents))
        self.skipped_inputs = batch.skipped
        return batch.documents

    def _memorize(self, documents: list[Document], progress: bool, cluster: Any = None) -> dict[str, float]:
        """Memorize and index `documents` (here, or on `cluster`: a memorag.distributed.RayCluster): one already
        held (same source and text; for unnamed texts, the same text) is skipped; one whose source is held with
        another text replaces that version."""
        documents, replaced = sort_out(self.documents, documents)
        if not documents:
            return {}
        outdated = [self.documents[index] for index in replaced]
        if cluster is not None:
            timings = cluster.memorize(self, documents, progress)
        else:
            timings = dict(self.memory.memorize(documents, progress=progress))
            started = time.perf_counter()
            self.retriever.add(documents, first_doc_id=len(self.documents), progress=progress)
            timings["embed_and_index"] = time.perf_counter() - started
        self.documents += documents
        if outdated:  # after the new versions are in, so a store never holds neither
            timings.update(self._forget(self._positions(outdated), progress))
        for key, value in timings.items():
            self.timings[key] = self.timings.get(key, 0.0) + value
        return timings

    def _positions(self, documents: Sequence[Document]) -> list[int]:
        """Where these very document objects sit in `self.documents` now."""
        wanted = {id(document) for document in documents}
        return [index for index, document in enumerate(self.documents) if id(document) in wanted]

    # ----- delete and replace --------------------------------------------------------------------------
    def delete(
        self, sources: str | Sequence[str], store: str | Path | None = None, progress: bool = False,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ) -> dict[str, float]:
        """Forget the documents of these sources (as `documents[i].source` names them): their memory segments,
        chunks, dense vectors and lexical postings. With `store`, in one atomic write of that store (loaded
        first when this pipeline does not hold it). DocumentNotFoundError for a source not held."""
        names = [sources] if isinstance(sources, str) else list(sources)
        return self._edit(store, progress, lock_timeout, lambda: self._forget(self._indices(names), progress))

    def replace(
        self, source: str, inputs: Input | Sequence[Input], store: str | Path | None = None, progress: bool = False,
        encoding: str = "utf-8", lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ) -> dict[str, float]:
        """Forget the document of `source` and memorize `inputs` in its place, in one write of `store`."""
        def edit() -> dict[str, float]:
            old = [self.documents[index] for index in self._indices([source])]
            timings = self._memorize(self._read_inputs(inputs, encoding), progress)
            return {**timings, **self._forget(self._positions(old), progress)}  # unless memorize replaced it

        return self._edit(store, progress, lock_timeout, edit)

    def _edit(self, store: str | Path | None, progress: bool, lock_timeout: float,
              change: Callable[[], dict[str, float]]) -> dict[str, float]:
        if store is None:
            return change()
        from memorag.store import read_manifest, refuse_non_store, store_lock

        path = Path(store)
        refuse_non_store(path)
        read_manifest(path)  # StoreNotFoundError: there is nothing to delete from
        with store_lock(path, lock_timeout, _waiting_message if progress else None):
            self._prepare_write(path, append=True, overwrite=False)
            timings = change()
            started = time.perf_counter()
            self._write(path)
            timings["save"] = time.perf_counter() - started
        return timings

    def _indices(self, sources: Sequence[str]) -> list[int]:
        held = [document.source for document in self.documents]
        missing = [source for source in sources if source not in held]
        if missing:
            listing = ", ".join(held[:8]) + (", ..." if len(held) > 8 else "")
            raise DocumentNotFoundError(f"no document {missing[0]!r} is memorized here (sources: {listing}); "
                                        "`memorag docs list STORE` shows them")
        return [index for index, source in enumerate(held) if source in set(sources)]

    def _forget(self, indices: Sequence[int], progress: bool = False) -> dict[str, float]:
        """Drop the documents at `indices` from memory, index and documents; a memory that cannot drop one
        document alone (a store from before per-document segments) is memorized again from the others."""
        self._require_memory()
        gone = set(indices)
        if not gone:
            return {}
        if len(gone) == len(self.documents):
            raise EmptyStoreError("that would forget every document and leave the store empty: delete the store's "
                                  "folder instead, or memorize the new documents first")
        started = time.perf_counter()
        remaining = [document for index, document in enumerate(self.documents) if index not in gone]
        timings: dict[str, float] = {}
        self.retriever.remove_documents(gone)  # first: it checks every id before it changes anything
        if not self.memory.remove(sorted(gone)):
            if progress:
                _waiting_message("this store's memory predates per-document segments: memorizing the other "
                                 f"{len(remaining)} documents again (once; later deletes are instant)")
            from memorag.recall.base import memory_reader

            reader = memory_reader(self.memory)  # only kv, full and gist memories keep per-document state
            fresh = make_memory(self.memory_config, None, reader.model, reader.tokenizer)
            timings.update(fresh.memorize(remaining, progress=progress))
            self._memory = fresh
        self.documents = remaining
        timings["forget"] = time.perf_counter() - started
        return timings

    def _prepare_write(self, path: Path, append: bool, overwrite: bool) -> None:
        """Under the store lock: decide whether writing `path` is allowed, and catch up with its newest revision
        when adding to it (another writer may have saved since this pipeline loaded it)."""
        from memorag.store import is_store, read_manifest

        if not is_store(path):
            return
        revision = read_manifest(path).get("revision")
        origin = self._origin if self._origin is not None and self._origin[0] == path.resolve() else None
        if origin is not None and origin[1] == revision:
            return  # the store is as this pipeline loaded or last wrote it
        if origin is None and overwrite:
            return  # replace it
        if origin is None and not append:
            raise StoreExistsError(
                f"{path} already holds a memorag store: add to it with --append (API: append=True, or "
                "MemoRAG.load it first), or replace it with --force (API: overwrite=True); a replaced store "
                "cannot be recovered")
        if len(self.documents) != (origin[2] if origin is not None else 0):
            raise StoreChangedError(
                f"{path} holds documents this pipeline has not loaded (another writer saved it since), and this "
                "pipeline holds documents that are not saved there: MemoRAG.load the store and memorize into it")
        self._adopt(MemoRAG.load(path, self.generation_config, self.memory_config.device, recall=self.recall_config))

    def _adopt(self, other: MemoRAG) -> None:
        """Take the memory, index and documents of a freshly loaded pipeline (same class, same models)."""
        self.memory_config, self.retrieval_config = other.memory_config, other.retrieval_config
        self._memory, self._retriever = other._memory, other._retriever
        self._saved_memory = other._saved_memory
        self.documents, self.timings, self._origin = other.documents, other.timings, other._origin

    def _models(self) -> dict[str, dict[str, str]]:
        models = {
            "memory": {"name": self.memory_config.model, "fingerprint": model_fingerprint(self.memory_config.model)},
            "embedder": {
                "name": self.retrieval_config.embedder,
                "fingerprint": model_fingerprint(self.retrieval_config.embedder),
            },
        }
        if self.memory_config.adapter:  # absent without one, so stores made before adapters existed still load
            from memorag.training.adapters import adapter_fingerprint

            adapter = self.memory_config.adapter
            models["memory_adapter"] = {"name": adapter, "fingerprint": adapter_fingerprint(adapter)}
        return models

    def save(self, store: str | Path, overwrite: bool = False, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> Path:
        """Write everything memorized to `store`: a new path, the store this pipeline was loaded from (refused
        with StoreChangedError when another writer saved it since), or any store with `overwrite=True`."""
        from memorag.store import is_store, read_manifest, refuse_non_store, store_lock

        self._require_memory()
        path = Path(store)
        refuse_non_store(path)
        with store_lock(path, lock_timeout):
            if is_store(path):
                ours = self._origin is not None and self._origin[0] == path.resolve()
                if ours and read_manifest(path).get("revision") != self._origin[1]:  # type: ignore[index]
                    raise StoreChangedError(
                        f"{path} was changed by another writer since this pipeline loaded it: saving would drop "
                        "that change; MemoRAG.load it again (or save with overwrite=True to replace it)")
                if not ours and not overwrite:
                    raise StoreExistsError(f"{path} already holds a memorag store: save(..., overwrite=True) "
                                           "replaces it (it cannot be recovered), or choose another path")
            self._write(path)
        return path

    def _write(self, path: Path) -> None:
        """Write a new revision of the store (the caller holds its lock and has checked it may)."""
        from memorag.store import write_store

        self._require_memory()

        def write(directory: Path) -> dict[str, Any]:
            memory_state = self.memory.save(directory)
            self.retriever.save(directory)
            return {
                "memorag_version": __version__,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "models": self._models(),
                "memory": config_to_dict(self.memory_config),  # beta as asked: each document gets its own
                "memory_state": memory_state,
                "retrieval": config_to_dict(self.retrieval_config),
                "documents": [{"source": d.source, "chars": len(d.text), "sha256": text_hash(d.text)}
                              for d in self.documents],
                "chunks": len(self.retriever.chunks),
                "timings": {k: round(v, 3) for k, v in self.timings.items()},
            }

        revision = write_store(path, write, self.documents)
        self._origin = (path.resolve(), revision, len(self.documents))

    @classmethod
    def load(
        cls, store: str | Path, generation: GenerationConfig | None = None, device: str | None = None,
        memory_adapter: str | Path | None = None, recall: RecallConfig | None = None, retriever: str | None = None,
        judge: JudgeConfig | None = None,
    ) -> MemoRAG:
        """Open a store; refuses one made with another memory model, adapter or embedder, or a newer format.

        The memory adapter is the one the store was made with; `memory_adapter` names the one you expect (refused
        when it differs). `recall` and `judge` are not stored: they do not change what was memorized."""
        from memorag.store import read_manifest

        path = Path(store)
        started = time.perf_counter()
        for attempt in range(LOAD_ATTEMPTS):
            manifest = read_manifest(path)
            try:
                rag = cls._load_revision(path, manifest, generation, device, memory_adapter, recall, retriever)
                rag.judge_config = judge or rag.judge_config
                break
            except Exception:
                # a writer replaced the store while we read it, and removed the files we were reading: read the
                # new manifest; anything else (a damaged store, other models) is raised as it is
                if attempt + 1 == LOAD_ATTEMPTS or read_manifest(path).get("revision") == manifest.get("revision"):
                    raise
        rag.timings = {"load": time.perf_counter() - started}
        return rag

    @classmethod
    def _load_revision(
        cls, path: Path, manifest: dict[str, Any], generation: GenerationConfig | None, device: str | None,
        memory_adapter: str | Path | None, recall: RecallConfig | None, retriever: str | None,
    ) -> MemoRAG:
        from memorag.retrieval import Retriever
        from memorag.store import check_models, data_dir, read_documents

        memory_config = config_from_dict(MemoryConfig, manifest["memory"])
        retrieval_config = config_from_dict(RetrievalConfig, manifest["retrieval"])
        if device:
            memory_config = replace(memory_config, device=device)
            retrieval_config = replace(retrieval_config, device=device)
        if retriever:  # this pipeline's only: the store keeps the retriever it records, until it is written
            retrieval_config = replace(retrieval_config, retriever=retriever)
        rag = cls(memory_config, retrieval_config, generation, memory_adapter, recall)
        check_models(manifest, rag._models(), path)
        folder = data_dir(path, manifest)
        rag.documents = read_documents(folder)
        state = {"documents": len(rag.documents), **manifest["memory_state"]}  # a shared stream holds them all
        check_memory_state(folder, state, rag.memory_config)  # cheap checks now; the tensors on first use
        rag._saved_memory = (folder, state)
        rag._retriever = Retriever.load(folder, rag.retriever.embedder, retrieval_config)
        rag._origin = (path.resolve(), manifest.get("revision"), len(rag.documents))
        return rag

    # ----- ask -----------------------------------------------------------------------------------------
    def _require_memory(self) -> None:
        if not self.documents:
            raise NotMemorizedError("nothing is memorized: call memorize(...) first, or MemoRAG.load(store)")

    def ask(
        self, question: str, mode: str = "memorag", top_k: int | None = None,
        clue_kinds: Sequence[str] | None = None, max_new_tokens: int | None = None, recall: str | None = None,
        retriever: str | None = None, judge: JudgeConfig | None = None, answer: str | None = None,
        on_evidence: Callable[[tuple[EvidencePassage, ...]], None] | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Answer:
        """Answer `question`. In memorag mode `recall` picks the strategy that writes the clues (memorag.recall):
        "generate" (the memory's free-text clues of `clue_kinds`), "copy", "attention", "multihop" or "none"
        (the question alone); None (and `clue_kinds` None): the pipeline's `RecallConfig.strategy`
        (`.clue_kinds`). `judge` (None: the pipeline's JudgeConfig) re-ranks memorag's candidate pool to top_k;
        `retriever` (None: the store's) ranks the question's hits in rag and memorag modes. `answer` (None:
        GenerationConfig.answer): "generate" or "quote" (the evidence sentence the judge scores highest, quoted
        with its passage number; rag and memorag modes). `max_new_tokens` None: GenerationConfig's; 0: retrieve
        only, the answer is "" and neither generator nor quote runs (clues and evidence as usual).

        Streaming (memorag.server): `on_evidence` is called once with the final evidence, numbered as the generator
        sees it ([1] first; empty in memory and full modes), before any answer text; `on_text` with each piece of
        the answer as it is written (the generator's `stream` where it has one, else the whole text once; quote and
        memory answers come whole). The pieces join to the answer before its citations are checked; an exception
        raised by a callback stops the answer and propagates. The return value is the same with or without them."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        if not question.strip():
            raise ValueError("the question is empty")
        self._require_memory()
        budget = self.generation_config.max_new_tokens if max_new_tokens is None else max_new_tokens
        if budget < 0:
            raise ValueError(f"max_new_tokens must be 0 (retrieve only) or more, not {budget}")
        judge_config = judge or self.judge_config
        style = answer or self.generation_config.answer
        if style not in ANSWER_STYLES:
            raise ValueError(f"answer must be one of {ANSWER_STYLES}, not {style!r}")
        top_k = top_k or self.retrieval_config.top_k
        timings: dict[str, float] = {}
        clues: list[Clue] = []
        evidence: list[EvidencePassage] = []
        judged_by: str | None = None
        ranking: tuple[int, ...] = ()
        judged_pool: tuple[tuple[int, float], ...] = ()
        if mode == "memory":
            if on_evidence is not None:
                on_evidence(())
            if budget == 0:
                return Answer(question, "", mode, timings=timings)
            started = time.perf_counter()
            self.focus(question, retriever)
            text = self.memory.answer(question)
            timings["recall"] = time.perf_counter() - started
            if on_text is not None:
                on_text(text)
            return Answer(question, text, mode, timings=timings)
        if mode == "full":
            context = "\n\n".join(d.text for d in self.documents)
            messages = answer_messages(question, context, cite=False)
        else:
            if mode == "memorag":
                started = time.perf_counter()
                clues = self.recall(question, recall, clue_kinds)
                timings["recall"] = time.perf_counter() - started
            started = time.perf_counter()
            if mode == "memorag" and judge_config.enabled:
                pool = self.retriever.pool(question, [c.text for c in clues], max(judge_config.pool, top_k),
                                           judge_config.clue_hits, retriever)
                timings["retrieve"] = time.perf_counter() - started
                started = time.perf_counter()
                judge_ = self.judge(judge_config)
                ranked = judge_.rerank(question, pool, len(pool), self._judge_memory(judge_config))
                timings["judge"] = time.perf_counter() - started
                judged_by, ranking = judge_.name, tuple(p.chunk.chunk_id for p in ranked)
                scores = {p.chunk.chunk_id: p.judge_score for p in ranked}  # the whole pool, each scored
                judged_pool = tuple((p.chunk.chunk_id, float(scores[p.chunk.chunk_id])) for p in pool)
                from memorag.retrieval.evidence import in_source_order

                evidence = in_source_order(ranked[:top_k])
            else:
                queries = [question, *(c.text for c in clues)]
                evidence = self.retriever.retrieve(queries, top_k, retriever=retriever)
                timings["retrieve"] = time.perf_counter() - started
            messages = answer_messages(question, evidence_prompt(evidence))
        if on_evidence is not None:
            on_evidence(tuple(evidence))
        text = ""
        if budget > 0 and style == "quote" and mode in ("rag", "memorag"):
            from memorag.generation.quote import best_quote, quote_text

            started = time.perf_counter()
            quoting = judge_config if judge_config.enabled else replace(judge_config, model="memory")
            text = quote_text(best_quote(question, evidence, self.judge(replace(quoting, context="passage")),
                                         [document.text for document in self.documents]))
            timings["quote"] = time.perf_counter() - started
            if on_text is not None:
                on_text(text)
        elif budget > 0:
            started = time.perf_counter()
            settings: dict[str, Any] = {"max_new_tokens": budget, "temperature": self.generation_config.temperature}
            if on_text is not None and hasattr(self.generator, "stream"):
                pieces = self.generator.stream(messages, **settings)
                written: list[str] = []
                try:
                    for piece in pieces:
                        written.append(piece)
                        on_text(piece)
                finally:
                    getattr(pieces, "close", lambda: None)()  # a callback that raised stops the model here
                text = "".join(written)
            else:
                text = self.generator.generate(messages, **settings)
                if on_text is not None:
                    on_text(text)
            timings["generate"] = time.perf_counter() - started
        from memorag.generation.citations import CitedText, cite

        # markers to passages not given are removed; the whole text (full) has no numbered passages to cite
        cited = cite(text, evidence, self.documents) if mode != "full" else CitedText(text)
        return Answer(question, cited.text, mode, tuple(clues), tuple(evidence), timings, judged_by, ranking,
                      pool=judged_pool, citations=cited.citations, dropped_citations=cited.dropped)

    def recall(
        self, question: str, strategy: str | None = None, clue_kinds: Sequence[str] | None = None
    ) -> list[Clue]:
        """The clues one recall strategy (None: `RecallConfig.strategy`) writes for `question` (no retrieval, no
        answer), with the pipeline's RecallConfig settings."""
        self._require_memory()
        strategy = strategy or self.recall_config.strategy
        from memorag.recall import recall_clues
        from memorag.recall.base import NoRecall

        if strategy == NoRecall.name:  # the question alone: no clue, so the memory is not read (nor loaded)
            return []
        self.focus(question)
        if strategy == "generate":
            kinds = self.recall_config.clue_kinds if clue_kinds is None else clue_kinds
            return [clue for clue in self.memory.clues(question, kinds) if clue.text.strip()]
        return recall_clues(strategy, question, self.memory, self.documents, self.retriever, self.recall_config)

    def focus(self, question: str, retriever: str | None = None) -> tuple[int, ...]:
        """Have the memory read the documents `question` is about, when they do not all fit the memory model's
        window at once: those of its top retrieval hits first, then as many others as fit. Returns the indices
        of the documents in memory (all of them when everything fits)."""
        if not self.memory.needs_routing:
            return tuple(range(len(self.documents)))
        hits = self.retriever.search([question], ROUTING_HITS, retriever)
        order = [self.retriever.chunks[chunk_id].doc_id for _, ranked in hits for chunk_id, _ in ranked]
        return self.memory.focus(list(dict.fromkeys(order)))

    def summarize(self, points: int = 5, top_k: int | None = None, max_new_tokens: int = 256) -> Answer:
        """MemoRAG's "summarize": key points from memory -> retrieve evidence -> a summary from the evidence."""
        self._require_memory()
        timings: dict[str, float] = {}
        started = time.perf_counter()
        clues = self.memory.summarize(points)
        timings["recall"] = time.perf_counter() - started
        started = time.perf_counter()
        evidence = self.retriever.retrieve([c.text for c in clues] or [self.documents[0].text[:500]], top_k or 2)
        timings["retrieve"] = time.perf_counter() - started
        started = time.perf_counter()
        user = f"Passages:\n{evidence_prompt(evidence)}\n\nSummarize the text these passages come from in a few sentences."
        text = self.generator.generate(
            [{"role": "system", "content": SUMMARY_SYSTEM}, {"role": "user", "content": user}],
            max_new_tokens=max_new_tokens,
        )
        timings["generate"] = time.perf_counter() - started
        return Answer("", text, "summarize", tuple(clues), tuple(evidence), timings)

    def info(self) -> dict[str, Any]:
        self._require_memory()
        return {
            "documents": [{"source": d.source, "chars": len(d.text)} for d in self.documents],
            "chunks": len(self.retriever.chunks),
            "memory": self.memory.describe(),
            "retrieval": config_to_dict(self.retrieval_config),
            "generation": config_to_dict(self.generation_config),
            "timings": self.timings,
        }
