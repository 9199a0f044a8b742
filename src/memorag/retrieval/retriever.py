"""The retriever: chunk documents, embed the chunks, index them (FAISS, BM25), answer several queries at once.

`config.retriever` picks each query's ranking: "dense" (FAISS), "bm25" (the lexical index) or "hybrid" (both,
fused by weighted reciprocal rank). Saved in a directory: `index.faiss` (the vectors; with `index.json`, the
parameters of an approximate or LanceDB index: memorag.retrieval.index), `chunks.json` (a UTF-8
JSON list of chunk dicts, id i at position i) and `lexical/` (memorag.retrieval.lexical). Load checks that
the first two are there and agree with each other and with the embedder's dimension; a directory without
`lexical/` (written before it existed) gets it built from chunks.json.
Removing documents keeps the other chunks' vectors (no embedding) and rebuilds the BM25 index from their texts.
Does not handle: the store manifest, format version and embedder identity (memorag.store records those),
or re-embedding when the embedder changes.
"""

from __future__ import annotations

import bisect
import json
import operator
import os
from collections.abc import Collection, Iterator, Sequence
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from memorag.config import RETRIEVERS, RetrievalConfig
from memorag.errors import StoreCorruptError, StoreNotFoundError
from memorag.retrieval.chunking import chunk_documents
from memorag.retrieval.embedders import Embedder
from memorag.retrieval.evidence import fuse_hits, fuse_rankings, merge_hits
from memorag.retrieval.index import VectorIndex
from memorag.retrieval.lexical import LexicalIndex
from memorag.types import Chunk, Document, EvidencePassage

INDEX_FILE = "index.faiss"
CHUNKS_FILE = "chunks.json"
CHUNK_FIELDS = {f.name: f.type for f in fields(Chunk)}  # name -> "int" or "str" (postponed annotations)
HYBRID_DEPTH = 50  # hits of each ranking fused in "hybrid": a rank past 50 adds under 1/110 of its weight


def clean_queries(queries: Sequence[str]) -> list[str]:
    """Queries stripped of surrounding white space, blank ones dropped, duplicates dropped (first kept)."""
    if isinstance(queries, str):
        raise TypeError("retrieve takes a sequence of queries, not one string; wrap it: retrieve([query])")
    return list(dict.fromkeys(query.strip() for query in queries if query.strip()))


def renumber_chunks(chunks: Sequence[Chunk], removed: Collection[int]) -> list[Chunk]:
    """The chunks of documents not in `removed`, renumbered as if chunked without them: chunk ids 0, 1, ...
    in order, and each doc id lowered by the number of removed doc ids below it."""
    gone = sorted(set(removed))
    kept = [chunk for chunk in chunks if chunk.doc_id not in set(gone)]
    return [
        replace(chunk, chunk_id=position, doc_id=chunk.doc_id - bisect.bisect_left(gone, chunk.doc_id))
        for position, chunk in enumerate(kept)
    ]


class Retriever:
    """Dense, BM25 or hybrid retrieval over chunks of one or more documents; chunk i has vector id i."""

    def __init__(self, embedder: Embedder, config: RetrievalConfig) -> None:
        special = getattr(embedder, "special_tokens", None)  # OnnxEmbedder knows it without its transformers tokenizer
        if special is None:
            special = getattr(embedder.tokenizer, "num_special_tokens_to_add", lambda: 0)()
        if config.chunk_tokens + special > embedder.max_tokens:
            raise ValueError(
                f"chunk_tokens={config.chunk_tokens} does not fit embedder {embedder.model_id!r}, which reads "
                f"{embedder.max_tokens - special} tokens; lower RetrievalConfig.chunk_tokens"
            )
        self.embedder = embedder
        self.config = config
        self._chunks: list[Chunk] = []
        self._index = VectorIndex(embedder.dimension, config.index, config.approximate_after)
        self._lexical = LexicalIndex(config.language)
        self._document_count = 0  # documents numbered so far, with or without chunks: doc ids 0..count-1

    @property
    def chunks(self) -> Sequence[Chunk]:
        return self._chunks

    @property
    def index(self) -> VectorIndex:
        return self._index

    @property
    def lexical(self) -> LexicalIndex:
        return self._lexical

    def build(self, documents: Sequence[Document], progress: bool = False) -> None:
        """Replace whatever was indexed with `documents` (doc ids 0, 1, ...)."""
        self._chunks, self._index = [], VectorIndex(self.embedder.dimension, self.config.index,
                                                    self.config.approximate_after)
        self._lexical = LexicalIndex(self.config.language)
        self._document_count = 0
        self.add(documents, first_doc_id=0, progress=progress)

    def add(
        self, documents: Sequence[Document], first_doc_id: int, progress: bool = False,
        vectors: np.ndarray | None = None,
    ) -> list[Chunk]:
        """Index more documents, numbered from `first_doc_id`; returns their chunks (ids follow the last).
        `vectors` (n_chunks, dimension): their chunks' vectors as `embed` gave them elsewhere (a Ray worker),
        so nothing is embedded here; ValueError when they are not one per chunk."""
        if self._chunks and first_doc_id <= self._chunks[-1].doc_id:
            raise ValueError(f"first_doc_id must exceed the last indexed doc id {self._chunks[-1].doc_id}")
        new = self._chunk(documents, first_doc_id, len(self._chunks))
        if vectors is None:
            vectors = self._embed_chunks(new, progress)  # before touching state: a failure leaves it as it was
        elif vectors.shape != (len(new), self.embedder.dimension):
            raise ValueError(f"vectors of shape {vectors.shape} given for {len(new)} chunks of dimension "
                             f"{self.embedder.dimension}: pass what Retriever.embed returns for these documents")
        lexical = LexicalIndex.build([chunk.text for chunk in [*self._chunks, *new]], self.config.language)
        self._index.add(vectors)
        self._chunks.extend(new)
        self._lexical = lexical
        self._document_count = max(self._document_count, first_doc_id + len(documents))
        return new

    def embed(self, documents: Sequence[Document], progress: bool = False) -> np.ndarray:
        """The vectors (n_chunks, dimension) `add` would index for `documents`, in chunk order; nothing changes."""
        return self._embed_chunks(self._chunk(documents, 0, 0), progress)

    def _chunk(self, documents: Sequence[Document], first_doc_id: int, first_chunk_id: int) -> list[Chunk]:
        return chunk_documents(documents, self.embedder.tokenizer, self.config.chunk_tokens,
                               self.config.chunk_overlap, first_doc_id=first_doc_id, first_chunk_id=first_chunk_id)

    def remove_documents(self, doc_ids: Collection[int]) -> int:
        """Drop the chunks of documents `doc_ids`, their vectors and BM25 postings; returns how many chunks went.

        The rest keep their vectors (nothing is embedded again) and are renumbered as a retriever built on the
        remaining documents numbers them: chunk ids 0, 1, ... in order; doc ids above a removed one shift down,
        so they index the documents list once the removed documents leave it. ValueError, before anything
        changes, for a doc id outside 0..n-1, n the documents `add` numbered (after `load`: up to the last
        document with a chunk)."""
        removed = {operator.index(doc_id) for doc_id in doc_ids}
        unknown = sorted(doc_id for doc_id in removed if not 0 <= doc_id < self._document_count)
        if unknown:
            raise ValueError(
                f"doc id {unknown[0]} is not indexed here (doc ids run 0..{self._document_count - 1}); "
                "pass the positions of the documents to remove in the documents list"
            )
        if not removed:
            return 0
        kept = [chunk.chunk_id for chunk in self._chunks if chunk.doc_id not in removed]  # == vector ids
        chunks = renumber_chunks(self._chunks, removed)
        # BM25's idf is corpus-wide: rebuild from the remaining texts, as a fresh build would
        lexical = LexicalIndex.build([chunk.text for chunk in chunks], self.config.language)
        index = self._index.select(kept)
        dropped = len(self._chunks) - len(chunks)
        self._chunks, self._index, self._lexical = chunks, index, lexical
        self._document_count -= len(removed)
        return dropped

    def _batches(self, chunks: list[Chunk], progress: bool) -> Iterator[list[str]]:
        size = self.config.batch_size
        starts: Iterator[int] = iter(range(0, len(chunks), size))
        if progress:
            from tqdm.auto import tqdm

            starts = iter(tqdm(range(0, len(chunks), size), desc="embedding chunks", unit="batch"))
        for start in starts:
            yield [chunk.text for chunk in chunks[start : start + size]]

    def _embed_chunks(self, chunks: list[Chunk], progress: bool) -> np.ndarray:
        parts = [self.embedder.embed(texts) for texts in self._batches(chunks, progress)]
        vectors = np.concatenate(parts) if parts else np.zeros((0, self.embedder.dimension), np.float32)
        if vectors.shape != (len(chunks), self.embedder.dimension):
            raise ValueError(f"embedder returned shape {vectors.shape} for {len(chunks)} chunks")
        return vectors  # (n_chunks, dimension)

    def search(
        self, queries: Sequence[str], top_k: int, retriever: str | None = None
    ) -> list[tuple[str, list[tuple[int, float]]]]:
        """Each cleaned query (blank and repeated ones dropped) with its ranked (chunk_id, score) hits.

        The ranking is `retriever`'s (None: `config.retriever`); scores are cosines (dense), BM25 scores (bm25)
        or fused reciprocal ranks (hybrid). bm25 keeps only chunks that share a token with the query: fewer than
        top_k when few do.
        """
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, not {top_k}")
        method = retriever or self.config.retriever
        if method not in RETRIEVERS:
            raise ValueError(f"retriever must be one of {RETRIEVERS}, not {method!r}")
        cleaned = clean_queries(queries)
        if not cleaned or not self._chunks:
            return []
        if method == "dense":
            ranked = self._dense_search(cleaned, top_k)
        elif method == "bm25":
            ranked = self._lexical.search(cleaned, top_k)
        else:
            depth = max(top_k, HYBRID_DEPTH)
            weights = (1.0, self.config.bm25_weight)
            pairs = zip(self._dense_search(cleaned, depth), self._lexical.search(cleaned, depth))
            ranked = [fuse_rankings(pair, weights, top_k) for pair in pairs]
        return list(zip(cleaned, ranked))

    def pool(
        self, question: str, clues: Sequence[str], size: int, clue_hits: int, retriever: str | None = None
    ) -> list[EvidencePassage]:
        """Candidates for a judge: the question's top `size` chunks (`retriever`'s ranking, None: the config's),
        then each clue's top `clue_hits` from the dense and from the lexical index; each chunk once, in the order
        first found, with every query that found it and the score it was found with."""
        found: dict[int, tuple[float, list[str]]] = {}

        def add(query: str, hits: Sequence[tuple[int, float]]) -> None:
            for chunk_id, score in hits:
                score_and_queries = found.setdefault(chunk_id, (float(score), []))
                if query not in score_and_queries[1]:
                    score_and_queries[1].append(query)

        for query, hits in self.search([question], size, retriever):
            add(query, hits)
        asked = set(clean_queries([question]))
        others = [clue for clue in clean_queries(clues) if clue not in asked]
        if others and clue_hits > 0 and self._chunks:
            for ranked in (self._dense_search(others, clue_hits), self._lexical.search(others, clue_hits)):
                for query, hits in zip(others, ranked):
                    add(query, hits)
        return [EvidencePassage(self._chunks[cid], score, tuple(queries)) for cid, (score, queries) in found.items()]

    def _dense_search(self, queries: list[str], top_k: int) -> list[list[tuple[int, float]]]:
        scores, ids = self._index.search(self.embedder.embed(queries), top_k)  # (n_queries, k) each
        return [
            [(cid, score) for cid, score in zip(ids[row].tolist(), scores[row].tolist()) if cid >= 0]
            for row in range(len(queries))
        ]

    def retrieve(
        self, queries: Sequence[str], top_k: int | None = None, question_weight: float | None = None,
        retriever: str | None = None,
    ) -> list[EvidencePassage]:
        """Evidence for queries[0] (the question) and the rest (clues), ordered by position in the source.

        `config.fusion` "union": every query's top_k chunks (merge_hits); "rrf": the top_k chunks of a weighted
        reciprocal-rank fusion in which the first query counts `question_weight` times (fuse_hits).
        """
        top_k = self.config.top_k if top_k is None else top_k
        per_query = self.search(queries, top_k, retriever)
        if self.config.fusion == "rrf":
            weight = self.config.question_weight if question_weight is None else question_weight
            first = clean_queries(queries[:1])
            weights = [weight if first and query == first[0] else 1.0 for query, _ in per_query]
            return fuse_hits(per_query, self._chunks, top_k, weights)
        return merge_hits(per_query, self._chunks, top_k)

    def save(self, directory: Path) -> None:
        """Write `index.faiss` (and `index.json`), `chunks.json` and `lexical/` into `directory` (created if
        needed)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self._index.save(directory / INDEX_FILE)
        self._lexical.save(directory)
        payload = json.dumps([asdict(chunk) for chunk in self._chunks], ensure_ascii=False)
        temporary = directory / f".{CHUNKS_FILE}.{os.getpid()}.tmp"
        try:
            temporary.write_text(payload, encoding="utf-8")
            os.replace(temporary, directory / CHUNKS_FILE)
        finally:
            temporary.unlink(missing_ok=True)

    @classmethod
    def load(cls, directory: Path, embedder: Embedder, config: RetrievalConfig) -> Retriever:
        """Read what `save` wrote; StoreCorruptError when a file is missing, unreadable or they disagree.

        A missing `lexical/` (or one made by another tokenizer or language) is built from the chunks; it is
        written with the store's next save."""
        directory = Path(directory)
        if not directory.is_dir():
            raise StoreNotFoundError(f"no retrieval store at {directory}: memorize a document first")
        chunks = read_chunks(directory / CHUNKS_FILE)
        index = VectorIndex.load(directory / INDEX_FILE, embedder.dimension, config.index,
                                 config.approximate_after)
        if len(index) != len(chunks):
            raise StoreCorruptError(
                f"{directory} holds {len(index)} vectors but {len(chunks)} chunks; memorize again to rebuild it"
            )
        retriever = cls(embedder, config)
        retriever._chunks, retriever._index = chunks, index
        retriever._document_count = max((chunk.doc_id for chunk in chunks), default=-1) + 1
        retriever._lexical = LexicalIndex.load(directory, [chunk.text for chunk in chunks], config.language)
        return retriever


def _chunk_from_dict(item: Any, position: int) -> Chunk:
    if not isinstance(item, dict) or set(item) != set(CHUNK_FIELDS):
        raise ValueError(f"entry {position} does not have exactly the fields {sorted(CHUNK_FIELDS)}")
    for name, kind in CHUNK_FIELDS.items():
        expected = int if kind == "int" else str
        if not isinstance(item[name], expected) or isinstance(item[name], bool):
            raise TypeError(f"entry {position}: {name} is not {kind}")
    chunk = Chunk(**item)
    if chunk.chunk_id != position or len(chunk.text) != chunk.end - chunk.start:
        raise ValueError(f"entry {position}: chunk id or character span does not match")
    return chunk


def read_chunks(path: Path) -> list[Chunk]:
    """Chunks from a `chunks.json`, or StoreCorruptError saying what is wrong with the file."""
    if not path.is_file():
        raise StoreCorruptError(f"{path} is missing; memorize again to rebuild the store")
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(items, list):
            raise TypeError("not a JSON list")
        return [_chunk_from_dict(item, position) for position, item in enumerate(items)]
    except (OSError, ValueError, TypeError) as exc:  # JSONDecodeError, UnicodeDecodeError are ValueErrors
        raise StoreCorruptError(f"{path} is unreadable ({exc}); memorize again to rebuild the store") from exc
