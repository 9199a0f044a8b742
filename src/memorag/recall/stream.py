"""Token streams with each token's place in the documents: memory entries and copied spans to char offsets.

`memorized_stream` tokenizes exactly as `KVMemory.memorize` does (the prompt prefix, then per document
`document_header(doc) + doc.text`), so token i of the stream is the token a memory entry with source i came from;
tokens of the prefix and headers belong to no document (doc -1). `copy_pieces` is the text a copy may come from:
one piece per sentence (or word) start, running to its sentence end. Offsets come from a fast tokenizer's offset
mapping. Not here: slow tokenizers without offsets, gist memories (their stream is the gists, not the documents).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from memorag.types import Document

SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n")
SENTENCE_START = re.compile(r"(?:\n|[.!?][ \t]+)[ \t]*(?=[^\W_])")  # ends where the sentence's first char is
WORD_START = re.compile(r"(?<![\w'])(?<!\d[,.])(?=[^\W_])")  # not "000" of "50,000"


@dataclass(frozen=True)
class TokenStream:
    ids: np.ndarray  # (T,) token ids
    doc: np.ndarray  # (T,) document index, -1 outside any document
    start: np.ndarray  # (T,) character offset of the token in its document (inclusive), -1 outside
    end: np.ndarray  # (T,) character offset (exclusive), -1 outside
    piece: np.ndarray  # (T,) which tokenized piece the token came from: a copied span stays inside one

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(cls, tokenizer: Any, pieces: Sequence[tuple[str, int, int, int]]) -> TokenStream:
        """pieces: (text, doc_id, text_start, doc_start): `text[text_start:]` is the document from doc_start on;
        doc_id -1 marks a piece outside any document. Each piece is tokenized on its own."""
        ids: list[int] = []
        doc: list[int] = []
        start: list[int] = []
        end: list[int] = []
        piece: list[int] = []
        for index, (text, doc_id, text_start, doc_start) in enumerate(pieces):
            encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
            for token, (s, e) in zip(encoded["input_ids"], encoded["offset_mapping"]):
                inside = doc_id >= 0 and e > text_start
                ids.append(token)
                doc.append(doc_id if inside else -1)
                start.append(max(s, text_start) - text_start + doc_start if inside else -1)
                end.append(e - text_start + doc_start if inside else -1)
                piece.append(index)
        return cls(*(np.asarray(x, dtype=np.int64) for x in (ids, doc, start, end, piece)))

    def next_tokens(self, positions: np.ndarray, depth: int) -> dict[int, np.ndarray]:
        """Token at `depth` after each span start in `positions`, grouped: token id -> the starts that allow it.

        A span never leaves the piece (document or passage) it starts in."""
        following = positions + depth
        ok = following < len(self.ids)
        positions, following = positions[ok], following[ok]
        ok = self.piece[following] == self.piece[positions]
        positions, following = positions[ok], following[ok]
        tokens = self.ids[following]
        return {int(t): positions[tokens == t] for t in np.unique(tokens)}

    def token_text(self, position: int, documents: Sequence[Document]) -> str:
        d = int(self.doc[position])
        return documents[d].text[self.start[position] : self.end[position]] if d >= 0 else ""

    def span(self, first: int, length: int, documents: Sequence[Document]) -> tuple[int, int, int]:
        """(doc_id, start, end) of tokens first..first+length-1, trimmed of white space at both ends."""
        d = int(self.doc[first])
        text = documents[d].text
        start, end = int(self.start[first]), int(self.end[first + length - 1])
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        return d, start, end

    def piece_starts(self) -> np.ndarray:
        """Position of every piece's first token: the candidate starts of a copy over copy pieces."""
        return np.flatnonzero(np.diff(self.piece, prepend=-1) != 0)


def memorized_stream(tokenizer: Any, prefix: str, documents: Sequence[Document]) -> TokenStream:
    """The token stream a KV memory read, from its first memorize on: prefix, then each header + document."""
    from memorag.memory.kv import document_header

    pieces = [(prefix, -1, 0, 0)]
    for doc_id, document in enumerate(documents):
        header = document_header(document)
        pieces.append((header + document.text, doc_id, len(header), 0))
    return TokenStream.build(tokenizer, pieces)


def sentence_end(text: str, start: int, limit: int) -> int:
    """End of the sentence that begins at `start`: after its final . ! or ?, before a line break, or `limit`."""
    match = SENTENCE_END.search(text, start, limit)
    if match is None:
        return limit
    return match.start() if match.group() == "\n" else match.end()


def _is_header(text: str, at: int) -> bool:
    """A short line ending in a colon ("Passage 3:", "Chapter 2:"): a layout label, never worth copying."""
    first, last = text.rfind("\n", 0, at) + 1, text.find("\n", at)
    line = text[first : last if last >= 0 else len(text)].strip()
    return line.endswith(":") and len(line.split()) <= 4


def copy_starts(text: str, start: int, end: int, unit: str) -> list[int]:
    """Character offsets in text[start:end] where a copy may begin: each "sentence" (a letter or digit after a
    line break, after a sentence end and white space, or at the region start) or each "word"; never in a
    header line."""
    pattern = WORD_START if unit == "word" else SENTENCE_START
    found = [match.end() for match in pattern.finditer(text, start, end)]
    if unit != "word" and start < end and text[start].isalnum():
        found.insert(0, start)
    return [at for at in found if at < end and not _is_header(text, at)]


def copy_pieces(
    tokenizer: Any,
    documents: Sequence[Document],
    regions: Sequence[tuple[int, int, int]],
    unit: str,
    min_chars: int = 1,
    max_chars: int = 400,
) -> TokenStream:
    """The copy constraint's text: one piece from every sentence or word start in `regions` ((doc_id, start,
    end) character ranges) to its sentence end, at most `max_chars`; pieces under `min_chars` are dropped.

    Each piece is tokenized on its own, so a copy begins with the token a model writes at the start of its
    reply ("The"), not the mid-text one with a leading space ("Ġthe"); offsets stay exact."""
    pieces = []
    for doc_id, start, end in regions:
        text = documents[doc_id].text
        for at in copy_starts(text, start, end, unit):
            stop = sentence_end(text, at, min(end, at + max_chars))
            if stop - at >= min_chars and text[at:stop].strip():
                pieces.append((text[at:stop], doc_id, 0, at))
    return TokenStream.build(tokenizer, pieces)
