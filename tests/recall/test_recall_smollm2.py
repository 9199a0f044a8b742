"""Grounded recall on the real embedded memory model (SmolLM2-135M-Instruct) over a ~1.5k-token text."""

from __future__ import annotations

import pytest

from memorag.config import MemoryConfig
from memorag.demo import reference_slice
from memorag.memory import CLUE_KINDS, make_memory
from memorag.recall import RecallConfig, recall_clues
from memorag.types import Document

pytestmark = pytest.mark.slow

QUESTION = "How does the import statement find and load a module?"


@pytest.fixture(scope="module")
def memorized():
    from memorag.models import load_causal_lm
    from memorag.retrieval.chunking import chunk_documents

    model, tokenizer = load_causal_lm("smollm2")
    text = reference_slice(40_000)
    documents = [Document("reference.txt", text[: text.index("\n\n", 5_500)])]  # the import statement
    memory = make_memory(MemoryConfig(kind="full"), model=model, tokenizer=tokenizer)
    memory.memorize(documents)
    assert 1_000 < memory.tokens_read < 2_000
    return memory, documents, chunk_documents(documents, tokenizer, 200, 32)


def test_every_copy_span_is_a_piece_of_the_memorized_text_at_its_offsets(memorized):
    memory, documents, _ = memorized
    clues = recall_clues(
        "copy", QUESTION, memory, documents, config=RecallConfig(spans=2, max_span_tokens=24)
    )
    assert 1 <= len(clues) <= 2
    for clue in clues:
        assert clue.strategy == "copy" and clue.text.strip() and clue.text in documents[0].text
        assert documents[clue.doc_id].text[clue.start : clue.end] == clue.text
    assert memory._question_cache().layers[0].keys.shape[2] == memory.length  # the memory is left as it was


def test_attention_clues_are_chunks_with_their_offsets(memorized):
    memory, documents, chunks = memorized
    retriever = type("Chunks", (), {"chunks": chunks})()
    clues = recall_clues("attention", QUESTION, memory, documents, retriever, RecallConfig(top_chunks=2))
    assert len(clues) == 2 and all(c.strategy == "attention" for c in clues)
    assert all(documents[c.doc_id].text[c.start : c.end] == c.text for c in clues)


def test_batched_clues_equal_the_sequential_ones(memorized):
    """The span, question and answer prompts decoded as one batch write what they write one by one (greedy).

    Not bit-exact: batched logits differ from the one-by-one ones by up to ~1e-4 (the mask makes transformers'
    sdpa pack GQA heads instead of `enable_gqa`; other rows' masked entries and B-row matmuls round differently),
    so a near-tie between the two best tokens could flip one; none did on the questions tried."""
    from memorag.memory.base import clues_from_texts

    memory, documents, _ = memorized
    # the compressed kv memory (full is kv at beta 1, and every kind is compared on the tiny model in
    # tests/memory/test_decode_batch_tiny.py); 32 clue tokens instead of 128: as telling for greedy equality
    config = MemoryConfig(kind="kv", beta=4, max_clue_tokens=32)
    memory = make_memory(config, model=memory.model, tokenizer=memory.tokenizer)
    memory.memorize(documents)
    one_by_one = [memory.generate(task, question=QUESTION) for task in CLUE_KINDS]  # what collect_clues parses
    assert all(one_by_one)
    assert memory.generate_batch([(task, {"question": QUESTION}) for task in CLUE_KINDS]) == one_by_one
    assert memory.clues(QUESTION) == clues_from_texts(QUESTION, CLUE_KINDS, one_by_one)
    assert memory._question_cache().layers[0].keys.shape[2] == memory.length  # the memory is left as it was
