"""Token streams (token -> document offsets) and the copy constraint, with the one-token-a-character tokenizer."""

from __future__ import annotations

import re

import numpy as np
import pytest
from recall_helpers import DOCUMENTS, tiny_memory

from memorag.memory.kv import document_header
from memorag.memory.prompts import prompt_frame
from memorag.recall import STRATEGIES, RecallConfig, make_strategy
from memorag.recall.stream import TokenStream, copy_pieces, copy_starts, memorized_stream
from memorag.types import Answer, Clue, Document


def test_the_stream_is_the_token_stream_the_memory_read(tiny_llama):
    tokenizer = tiny_llama[1]
    memory = tiny_memory(tiny_llama)
    stream = memorized_stream(tokenizer, prompt_frame(tokenizer).prefix, DOCUMENTS)
    expected = tokenizer(prompt_frame(tokenizer).prefix)["input_ids"]
    for document in DOCUMENTS:
        expected += tokenizer(document_header(document) + document.text)["input_ids"]
    assert stream.ids.tolist() == expected and len(stream) == memory.tokens_read
    inside = np.flatnonzero(stream.doc >= 0)
    assert len(inside) == sum(len(d.text) for d in DOCUMENTS)  # every character, and nothing of the headers
    for position in inside:
        document = DOCUMENTS[stream.doc[position]].text
        assert stream.token_text(int(position), DOCUMENTS) == document[stream.start[position]]


def test_next_tokens_follow_every_occurrence_and_never_leave_a_piece(tiny_llama):
    tokenizer = tiny_llama[1]
    documents = [Document("a", "abcab"), Document("b", "abd")]
    stream = TokenStream.build(tokenizer, [(d.text, i, 0, 0) for i, d in enumerate(documents)])
    a, b, c, d = (tokenizer(x)["input_ids"][0] for x in "abcd")
    starts = np.flatnonzero(stream.ids == a)  # "a" at 0 and 3 of doc 0, 0 of doc 1
    groups = stream.next_tokens(starts, 1)
    assert set(groups) == {b} and groups[b].tolist() == [0, 3, 5]
    groups = stream.next_tokens(groups[b], 2)  # "ab" then c (doc 0) or d (doc 1); doc 0's last "ab" ends
    assert {t: p.tolist() for t, p in groups.items()} == {c: [0], d: [5]}


def test_copy_starts_skip_list_marks_headers_and_mid_sentence_words():
    text = DOCUMENTS[0].text
    sentences = [text[at : at + 12] for at in copy_starts(text, 0, len(text), "sentence")]
    assert sentences == [
        "1. Intro\nThe",
        "Intro\nThe va",
        "The vault co",
        "Harwick live",
        "Dunmore is a",
        "The river fl",
    ]
    other = DOCUMENTS[1].text
    words = [re.match(r"\w+", other[at:]).group() for at in copy_starts(other, 0, 40, "word")]
    assert words == ["Mara", "wrote", "the", "ledger", "in", "1902"]  # not the header "Passage 2:"


def test_copy_pieces_run_from_each_start_to_its_sentence_end_with_exact_offsets(tiny_llama):
    stream = copy_pieces(tiny_llama[1], DOCUMENTS, [(0, 0, len(DOCUMENTS[0].text))], "sentence", min_chars=16)
    texts = [DOCUMENTS[0].text[stream.start[p] : stream.end[p + n - 1]] for p, n in _pieces(stream)]
    assert texts == [
        "The vault code is kept by Harwick.",
        "Harwick lives in Dunmore.",
        "Dunmore is a town on the river Slane.",
        "The river floods in spring.",
    ]
    chunk_region = [(1, 11, 40)]  # a passage: offsets stay those of its document
    words = copy_pieces(tiny_llama[1], DOCUMENTS, chunk_region, "word", max_chars=10)
    assert all(11 <= s and e <= 40 for s, e in zip(words.start, words.end))
    first = [DOCUMENTS[1].text[words.start[p] : words.end[p + n - 1]] for p, n in _pieces(words)][:3]
    assert first == ["Mara wrote", "wrote the ", "the ledger"]
    assert words.span(int(words.piece_starts()[2]), 3, DOCUMENTS) == (1, 22, 25)  # "the", trimmed


def _pieces(stream):
    starts = stream.piece_starts().tolist()
    return [(s, e - s) for s, e in zip(starts, [*starts[1:], len(stream)])]


def test_clue_fields_default_and_reach_the_answer_dict():
    clue = Clue("The vault code is 4172.", "span")
    assert (clue.strategy, clue.doc_id, clue.start, clue.end, clue.score, clue.hop) == (
        "generate",
        *[None] * 5,
    )
    grounded = Clue("Harwick", "bridge", "multihop", 0, 10, 17, -0.5, 2)
    data = Answer("q", "a", "memorag", clues=(grounded,)).to_dict()
    assert data["clues"][0] == {
        "text": "Harwick",
        "kind": "bridge",
        "strategy": "multihop",
        "doc_id": 0,
        "start": 10,
        "end": 17,
        "score": -0.5,
        "hop": 2,
    }


def test_strategies_by_name_and_config_checks():
    assert [make_strategy(name).name for name in STRATEGIES] == list(STRATEGIES)
    with pytest.raises(ValueError, match="unknown recall strategy"):
        make_strategy("telepathy")
    with pytest.raises(ValueError, match="max_hops"):
        RecallConfig(max_hops=0)
    with pytest.raises(ValueError, match="attention_query"):
        RecallConfig(attention_query="everything")
