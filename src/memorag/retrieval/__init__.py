"""Retrieval: token-aware chunking, sentence embedders, exact FAISS and BM25 indexes, evidence merging.

Importing this package loads neither faiss, bm25s nor sentence-transformers; they load when first used.
"""

from memorag.retrieval.chunking import chunk_document, chunk_documents
from memorag.retrieval.embedders import (
    Embedder,
    MeanPoolingEmbedder,
    SentenceTransformerEmbedder,
    load_sentence_transformer,
    make_embedder,
)
from memorag.retrieval.evidence import fuse_hits, fuse_rankings, merge_hits
from memorag.retrieval.index import VectorIndex
from memorag.retrieval.lexical import LexicalIndex, LexicalTokenizer
from memorag.retrieval.onnx_embedder import OnnxEmbedder
from memorag.retrieval.retriever import Retriever

__all__ = [
    "Embedder",
    "LexicalIndex",
    "LexicalTokenizer",
    "MeanPoolingEmbedder",
    "OnnxEmbedder",
    "Retriever",
    "SentenceTransformerEmbedder",
    "VectorIndex",
    "chunk_document",
    "chunk_documents",
    "fuse_hits",
    "fuse_rankings",
    "load_sentence_transformer",
    "make_embedder",
    "merge_hits",
]
