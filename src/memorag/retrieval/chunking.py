"""Token-aware chunking: windows of at most `chunk_tokens` tokens that share `overlap` tokens.

A chunk's text is always `document.text[start:end]`, using the character offsets a Hugging Face *fast*
tokenizer reports, so it works for any script the tokenizer covers (CJK, Cyrillic, accented Latin).
A window ends at the best boundary in its last ~20%: a paragraph break, then a sentence end, then any
word boundary; the next window starts `overlap` tokens earlier, moved back to a word start.
Does not handle: slow (Python) tokenizers, tokenizers whose offsets do not point into the raw text,
or layout (tables, code blocks) beyond blank-line paragraphs.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING

from memorag.types import Chunk, Document

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

BOUNDARY_SEARCH = 0.2  # fraction of the window, at its end, searched for a good place to cut
MAX_START_SHIFT = 16  # tokens an overlapped window's start may move back to reach a word start
SENTENCE_ENDS = frozenset(".!?…。！？；;")
CJK_SENTENCE_ENDS = frozenset("。！？；…")

# how good a cut between two tokens is
MID_WORD, WORD, SENTENCE, PARAGRAPH = 0, 1, 2, 3


def _token_offsets(text: str, tokenizer: PreTrainedTokenizerBase) -> list[tuple[int, int]]:
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError("chunking needs a fast tokenizer (offset mapping); load it with use_fast=True")
    encoding = tokenizer(
        text, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False
    )
    return [(start, end) for start, end in encoding["offset_mapping"] if end > start]


def _is_word_char(char: str) -> bool:
    # CJK ideographs and kana are words on their own: cutting between two of them splits no word
    return char.isalnum() and not unicodedata.name(char, "").startswith(("CJK", "HIRAGANA", "KATAKANA"))


def _cut_quality(text: str, offsets: list[tuple[int, int]], cut: int) -> int:
    """How good it is to end a chunk before token `cut` (0 < cut < len(offsets))."""
    left_end, right_start = offsets[cut - 1][1], offsets[cut][0]
    if right_start < left_end:  # byte-level tokens that split one character
        return MID_WORD
    gap = text[left_end:right_start]
    last = text[left_end - 1]
    if gap.count("\n") >= 2:
        return PARAGRAPH
    if "\n" in gap or (last in SENTENCE_ENDS and (gap or last in CJK_SENTENCE_ENDS)):
        return SENTENCE
    if gap or not (_is_word_char(last) and _is_word_char(text[right_start])):
        return WORD
    return MID_WORD


def _window_end(
    text: str, offsets: list[tuple[int, int]], start: int, chunk_tokens: int, overlap: int
) -> int:
    """The token index (exclusive) where the window beginning at `start` should end."""
    hard_end = min(start + chunk_tokens, len(offsets))
    if hard_end == len(offsets):
        return hard_end
    # keep at least 80% of the window, and always move past the overlap so the next window advances
    earliest = max(start + overlap + 1, start + chunk_tokens - int(chunk_tokens * BOUNDARY_SEARCH))
    best_cut, best_quality = hard_end, _cut_quality(text, offsets, hard_end)
    for cut in range(hard_end - 1, earliest - 1, -1):  # latest first, so ties keep the longer window
        quality = _cut_quality(text, offsets, cut)
        if quality > best_quality:
            best_cut, best_quality = cut, quality
    return best_cut


def _next_start(text: str, offsets: list[tuple[int, int]], start: int, end: int, overlap: int) -> int:
    """Begin the next window `overlap` tokens before `end`, moved back to a word start when one is near."""
    candidate = end - overlap
    if overlap == 0:
        return candidate
    lowest = max(start + 1, candidate - MAX_START_SHIFT)
    for begin in range(candidate, lowest - 1, -1):
        if _cut_quality(text, offsets, begin) > MID_WORD:
            return begin
    return candidate


def chunk_document(
    doc_id: int,
    document: Document,
    tokenizer: PreTrainedTokenizerBase,
    chunk_tokens: int,
    overlap: int,
    first_chunk_id: int = 0,
) -> list[Chunk]:
    """Split one document into chunks numbered from `first_chunk_id`; whitespace-only chunks are dropped."""
    if chunk_tokens < 1 or not 0 <= overlap < chunk_tokens:
        raise ValueError(
            f"need chunk_tokens >= 1 and 0 <= overlap < chunk_tokens, not {chunk_tokens}, {overlap}"
        )
    text = document.text
    offsets = _token_offsets(text, tokenizer)
    chunks: list[Chunk] = []
    start = 0
    while start < len(offsets):
        end = _window_end(text, offsets, start, chunk_tokens, overlap)
        char_start, char_end = offsets[start][0], offsets[end - 1][1]
        if text[char_start:char_end].strip():
            chunk_id = first_chunk_id + len(chunks)
            span = text[char_start:char_end]
            chunks.append(Chunk(chunk_id, doc_id, document.source, char_start, char_end, span))
        if end == len(offsets):
            break
        start = _next_start(text, offsets, start, end, overlap)
    return chunks


def chunk_documents(
    documents: Sequence[Document],
    tokenizer: PreTrainedTokenizerBase,
    chunk_tokens: int,
    overlap: int,
    first_doc_id: int = 0,
    first_chunk_id: int = 0,
) -> list[Chunk]:
    """Chunk several documents; doc ids count from `first_doc_id`, chunk ids run on across documents."""
    chunks: list[Chunk] = []
    for position, document in enumerate(documents):
        chunks += chunk_document(
            first_doc_id + position, document, tokenizer, chunk_tokens, overlap, first_chunk_id + len(chunks)
        )
    return chunks
