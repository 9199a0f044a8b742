"""Retrieval: token-aware chunking, sentence embedders, an exact FAISS index and evidence merging.

Importing this package loads neither faiss nor sentence-transformers; they load when first used.
"""

from memorag.retrieval.chunking import chunk_document, chunk_documents
from memorag.retrieval.embedders import Embedder, SentenceTransformerEmbedder, load_sentence_transformer
from memorag.retrieval.evidence import fuse_hits, merge_hits
from memorag.retrieval.index import VectorIndex
from memorag.retrieval.retriever import Retriever

__all__ = [
    "Embedder",
    "Retriever",
    "SentenceTransformerEmbedder",
    "VectorIndex",
    "chunk_document",
    "chunk_documents",
    "fuse_hits",
    "load_sentence_transformer",
    "merge_hits",
]
