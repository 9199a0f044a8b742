"""Chunking with the real MiniLM tokenizer: offsets hold in any script, windows fit, overlap is kept."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from memorag.retrieval.chunking import MAX_START_SHIFT, chunk_document, chunk_documents
from memorag.types import Chunk, Document

ENGLISH = [
    *("the", "river", "flooded", "lower", "town", "spring", "electroencephalography", "unbelievably"),
    *("internationalization", "committee", "archive", "telescope", "harbour", "merchants", "1921"),
    *("bridge", "lantern", "quietly", "observed"),
]
GERMAN = ["Größenänderung", "Straßenbahn", "über", "München", "äußerst", "Ärztekammer", "Übermäßigkeit"]
RUSSIAN = ["Ёлка", "стояла", "в", "углу", "комнаты", "Москва", "зимой", "холодная", "щедрый", "подъезд"]
CHINESE = list("我们今天在北京大学图书馆学习历史和文化天气很好朋友")


def make_text(words: list[str], joiner: str, stop: str, paragraphs: int, seed: int = 0) -> str:
    rng = random.Random(seed)

    def sentence() -> str:
        return joiner.join(rng.choice(words) for _ in range(rng.randint(4, 9))) + stop

    return "\n\n".join(
        (" " if joiner else "").join(sentence() for _ in range(rng.randint(2, 5))) for _ in range(paragraphs)
    )


def token_spans(text: str, tokenizer: Any) -> list[tuple[int, int]]:
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    return [(start, end) for start, end in encoding["offset_mapping"] if end > start]


def tokens_in(chunk: Chunk, spans: list[tuple[int, int]]) -> set[int]:
    return {i for i, (start, end) in enumerate(spans) if chunk.start <= start and end <= chunk.end}


def check_chunks(text: str, chunks: list[Chunk], tokenizer: Any, chunk_tokens: int, overlap: int) -> None:
    spans = token_spans(text, tokenizer)
    assert chunks[0].start == spans[0][0] and chunks[-1].end == spans[-1][1]
    for chunk in chunks:
        assert chunk.text == text[chunk.start : chunk.end] and chunk.text == chunk.text.strip()
        assert len(tokens_in(chunk, spans)) <= chunk_tokens
        assert len(tokenizer(chunk.text, add_special_tokens=False)["input_ids"]) <= chunk_tokens
    for before, after in itertools.pairwise(chunks):
        assert before.start < after.start and before.end < after.end
        shared = len(tokens_in(before, spans) & tokens_in(after, spans))
        assert overlap <= shared <= overlap + MAX_START_SHIFT
    covered = set().union(*(tokens_in(chunk, spans) for chunk in chunks))
    assert covered == set(range(len(spans)))


def assert_no_cut_words(text: str, chunks: list[Chunk]) -> None:
    for chunk in chunks:
        for position in (chunk.start, chunk.end):
            assert not (
                0 < position < len(text) and text[position - 1].isalnum() and text[position].isalnum()
            )


@pytest.mark.parametrize("overlap", [0, 10, 25])
def test_english_offsets_sizes_and_overlap(minilm_tokenizer: Any, overlap: int) -> None:
    text = make_text(ENGLISH, " ", ".", paragraphs=30)
    chunks = chunk_document(0, Document("en.txt", text), minilm_tokenizer, chunk_tokens=60, overlap=overlap)
    assert len(chunks) > 5
    check_chunks(text, chunks, minilm_tokenizer, 60, overlap)
    assert_no_cut_words(text, chunks)
    assert [chunk.chunk_id for chunk in chunks] == list(range(len(chunks)))


@pytest.mark.parametrize(
    ("words", "joiner", "stop"),
    [(GERMAN, " ", "."), (RUSSIAN, " ", "!"), (CHINESE, "", "。")],
    ids=["de", "ru", "zh"],
)
def test_non_english_offsets_hold(minilm_tokenizer: Any, words: list[str], joiner: str, stop: str) -> None:
    text = make_text(words, joiner, stop, paragraphs=25, seed=1)
    chunks = chunk_document(3, Document("doc", text), minilm_tokenizer, chunk_tokens=50, overlap=8)
    assert len(chunks) > 3 and all(chunk.doc_id == 3 and chunk.source == "doc" for chunk in chunks)
    check_chunks(text, chunks, minilm_tokenizer, 50, 8)
    if joiner:
        assert_no_cut_words(text, chunks)


def test_chunks_end_at_sentences_when_one_is_near(minilm_tokenizer: Any) -> None:
    # Chinese sentences here are 5-10 tokens, under 20% of a 60-token window: every cut finds a 。
    text = "".join(make_text(CHINESE, "", "。", paragraphs=20, seed=2).split())
    chunks = chunk_document(0, Document("zh", text), minilm_tokenizer, chunk_tokens=60, overlap=0)
    assert all(chunk.text.endswith("。") for chunk in chunks)


def test_paragraph_break_preferred_over_sentence_end(minilm_tokenizer: Any) -> None:
    first = "alpha beta gamma. " * 9 + "alpha beta."  # 40 tokens, ends a paragraph
    text = first + "\n\n" + "delta epsilon. " * 40
    chunks = chunk_document(0, Document("p", text), minilm_tokenizer, chunk_tokens=48, overlap=0)
    assert chunks[0].text == first


def test_word_without_boundaries_is_cut_hard(minilm_tokenizer: Any) -> None:
    text = "x" + "ab" * 40  # one word of many word pieces: no boundary to prefer
    chunks = chunk_document(0, Document("w", text), minilm_tokenizer, chunk_tokens=8, overlap=2)
    spans = token_spans(text, minilm_tokenizer)
    assert all(len(tokens_in(chunk, spans)) <= 8 for chunk in chunks)
    assert chunks[-1].end == len(text) and all(
        chunk.text == text[chunk.start : chunk.end] for chunk in chunks
    )


def test_blank_documents_give_no_chunks(minilm_tokenizer: Any) -> None:
    assert chunk_document(0, Document("e", ""), minilm_tokenizer, 10, 2) == []
    assert chunk_document(0, Document("w", " \n\t \u3000 "), minilm_tokenizer, 10, 2) == []


def test_chunk_documents_numbers_across_documents(minilm_tokenizer: Any) -> None:
    documents = [Document("a", "one two three " * 20), Document("b", "  "), Document("c", "four five " * 20)]
    chunks = chunk_documents(documents, minilm_tokenizer, chunk_tokens=16, overlap=4)
    assert [chunk.chunk_id for chunk in chunks] == list(range(len(chunks)))
    assert {chunk.doc_id for chunk in chunks} == {0, 2}
    assert all(chunk.text == documents[chunk.doc_id].text[chunk.start : chunk.end] for chunk in chunks)
    later = chunk_documents(documents[:1], minilm_tokenizer, 16, 4, first_doc_id=5, first_chunk_id=100)
    assert later[0].chunk_id == 100 and later[0].doc_id == 5


def test_bad_arguments_raise(minilm_tokenizer: Any) -> None:
    with pytest.raises(ValueError):
        chunk_document(0, Document("a", "text"), minilm_tokenizer, chunk_tokens=10, overlap=10)

    class SlowTokenizer:
        is_fast = False

    with pytest.raises(TypeError, match="fast tokenizer"):
        chunk_document(0, Document("a", "text"), SlowTokenizer(), chunk_tokens=10, overlap=0)  # type: ignore[arg-type]
