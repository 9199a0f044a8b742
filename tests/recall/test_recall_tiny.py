"""The recall strategies on a tiny random Llama: grounded offsets, kv/full parity, save/load, hop bound."""

from __future__ import annotations

import copy
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch
from recall_helpers import DOCUMENTS, WordRetriever, fixed_chunks, tiny_memory

from memorag.config import MemoryConfig
from memorag.memory import load_memory
from memorag.memory.prompts import prompt_frame
from memorag.recall import RecallConfig, recall_clues
from memorag.recall.attention import AttentionRecall, entry_attention, global_layers, question_prompt
from memorag.recall.stream import copy_starts, memorized_stream
from memorag.types import Clue

QUESTION = "Who keeps the vault code?"


def assert_grounded(clues, documents=DOCUMENTS, trimmed=True):
    for clue in clues:
        assert clue.text.strip() and (clue.text == clue.text.strip() or not trimmed)
        assert documents[clue.doc_id].text[clue.start : clue.end] == clue.text


def test_copy_spans_are_pieces_of_the_text_from_sentence_starts(tiny_llama):
    memory = tiny_memory(tiny_llama)
    config = RecallConfig(spans=3, beam_width=4, start_tokens=3, max_span_tokens=12, min_span_chars=16)
    clues = recall_clues("copy", QUESTION, memory, DOCUMENTS, config=config)
    assert 1 <= len(clues) <= 3 and all(c.strategy == "copy" and c.kind == "span" for c in clues)
    assert_grounded(clues)
    starts = {
        (doc_id, at)
        for doc_id, d in enumerate(DOCUMENTS)
        for at in copy_starts(d.text, 0, len(d.text), "sentence")
    }
    assert all((c.doc_id, c.start) in starts for c in clues)
    assert all(
        len(c.text) <= 12 + 4 or c.text[-1] in ".!?" for c in clues
    )  # a budget (+ a word's end) or a sentence
    assert memory._question_cache().layers[0].keys.shape[2] == memory.length  # memory left as it was
    assert recall_clues("copy", QUESTION, memory, DOCUMENTS, config=config) == clues  # deterministic


def test_entry_attention_equals_the_models_own_weights_on_the_plain_sequence(tiny_llama):
    from transformers import LlamaForCausalLM

    memory = tiny_memory(tiny_llama, beta=1)
    config = copy.deepcopy(tiny_llama[0].config)
    config._attn_implementation = "eager"  # dataclasses.replace drops it on transformers >= 5.25
    eager = LlamaForCausalLM(config).eval()
    eager.load_state_dict(tiny_llama[0].state_dict())
    stream = memorized_stream(memory.tokenizer, prompt_frame(memory.tokenizer).prefix, DOCUMENTS).ids.tolist()
    prompt, rows = question_prompt(memory.tokenizer, memory.frame, QUESTION, "question")
    assert len(rows) == len(QUESTION)  # one token a character
    with torch.no_grad():
        out = eager(input_ids=torch.tensor([stream + prompt]), output_attentions=True)
    found = entry_attention(memory, prompt, rows, [0, 1])
    for layer in (0, 1):
        expected = out.attentions[layer][0][:, [len(stream) + r for r in rows], : len(stream)]  # (H_q, R, M)
        assert torch.allclose(found[layer], expected, atol=1e-3), (found[layer] - expected).abs().max()


@pytest.mark.parametrize("query", ["question", "last"])
def test_attention_ranks_chunks_the_same_over_kv_at_beta_one_and_full(tiny_llama, query):
    chunks = fixed_chunks(DOCUMENTS)
    retriever = SimpleNamespace(chunks=chunks)
    config = RecallConfig(top_chunks=len(chunks), attention_query=query)
    ranked = {}
    for kind in ("kv", "full"):
        memory = tiny_memory(tiny_llama, kind=kind, beta=1)
        clues = recall_clues("attention", QUESTION, memory, DOCUMENTS, retriever, config)
        assert all(c.strategy == "attention" and c.kind == "passage" for c in clues)
        assert_grounded(clues, trimmed=False)  # a chunk's own offsets and text
        ranked[kind] = [(c.doc_id, c.start, c.end) for c in clues]
    assert len(ranked["kv"]) == len(chunks) and ranked["kv"] == ranked["full"]


def test_attention_position_mapping_survives_save_and_load(tiny_llama, tmp_path):
    chunks = fixed_chunks(DOCUMENTS)
    retriever = SimpleNamespace(chunks=chunks)
    memory = tiny_memory(tiny_llama, beta=4)
    assert memory.length < memory.tokens_read  # compressed: entries map to scattered source tokens
    state = memory.save(tmp_path)
    loaded = load_memory(tmp_path, state, MemoryConfig(**memory.config.__dict__), None, *tiny_llama)
    config = RecallConfig(top_chunks=len(chunks))
    before = recall_clues("attention", QUESTION, memory, DOCUMENTS, retriever, config)
    after = recall_clues("attention", QUESTION, loaded, DOCUMENTS, retriever, config)
    assert [(c.doc_id, c.start, c.score) for c in before] == [(c.doc_id, c.start, c.score) for c in after]
    mass = AttentionRecall(replace(config, null_weight=0.0)).token_mass(loaded, QUESTION)
    kept = torch.unique(torch.cat([s.flatten() for s in loaded.sources])).numpy()
    assert mass.sum() > 0 and (mass > 0).sum() <= len(kept)  # mass lands only on tokens the memory kept


def test_attention_refuses_documents_that_were_not_memorized(tiny_llama):
    memory = tiny_memory(tiny_llama)
    with pytest.raises(ValueError, match="memorized"):
        recall_clues(
            "attention", QUESTION, memory, DOCUMENTS[:1], SimpleNamespace(chunks=fixed_chunks(DOCUMENTS))
        )


def test_only_global_layers_count_where_a_model_has_sliding_ones():
    gemma_like = SimpleNamespace(
        config=SimpleNamespace(
            num_hidden_layers=4,
            layer_types=["sliding_attention", "sliding_attention", "full_attention", "sliding_attention"],
        )
    )
    assert global_layers(gemma_like) == [2]
    assert global_layers(SimpleNamespace(config=SimpleNamespace(num_hidden_layers=3))) == [0, 1, 2]


@pytest.mark.parametrize("hops", [1, 2, 3])
def test_multihop_stops_at_its_bound_and_each_hop_is_grounded(tiny_llama, hops):
    memory = tiny_memory(tiny_llama)
    retriever = WordRetriever(fixed_chunks(DOCUMENTS))
    config = RecallConfig(max_hops=hops, bridge_tokens=6, beam_width=2)
    clues = recall_clues("multihop", QUESTION, memory, DOCUMENTS, retriever, config)
    assert len(retriever.searches) <= hops and 1 <= len(clues) <= hops
    assert [c.hop for c in clues] == list(range(1, len(clues) + 1))
    assert all(c.strategy == "multihop" and c.kind == "bridge" for c in clues)
    assert_grounded(clues)
    assert retriever.searches[0] == [QUESTION]
    assert all(search == [clue.text] for search, clue in zip(retriever.searches[1:], clues))


def test_multihop_clues_do_not_depend_on_the_memory_setting(tiny_llama):
    # The bridge is copied from the retrieved passages read on their own, so kv at any beta and full give the
    # same clues: docs/benchmarks.md reports multihop once per memory model, not once per memory setting.
    config = RecallConfig(max_hops=2, bridge_tokens=6, beam_width=2)
    found = []
    for overrides in ({"kind": "full", "beta": 1}, {"beta": 1}, {"beta": 4}):
        memory = tiny_memory(tiny_llama, **overrides)
        retriever = WordRetriever(fixed_chunks(DOCUMENTS))
        found.append(recall_clues("multihop", QUESTION, memory, DOCUMENTS, retriever, config))
    assert found[0] and found[0] == found[1] == found[2]


def test_multihop_ends_when_no_new_passage_is_found(tiny_llama):
    memory = tiny_memory(tiny_llama)
    retriever = WordRetriever(fixed_chunks(DOCUMENTS)[:1])  # one passage: hop 2 has nothing new to read
    clues = recall_clues("multihop", QUESTION, memory, DOCUMENTS, retriever, RecallConfig(max_hops=4))
    assert len(clues) <= 1 and len(retriever.searches) <= 2


class BlankStrategy:
    name = "blank"

    def recall(self, question, memory, documents, retriever=None):
        return [Clue("", "span"), Clue("   \n", "span"), Clue("kept", "span"), Clue("kept", "answer")]


def test_blank_clues_never_come_out(tiny_llama):
    assert [c.text for c in recall_clues(BlankStrategy(), QUESTION, None, DOCUMENTS)] == ["kept"]
    memory = SimpleNamespace(
        clues=lambda question, kinds: [Clue(" ", "span"), Clue("Harwick keeps it.", "answer")]
    )
    clues = recall_clues("generate", QUESTION, memory, DOCUMENTS)
    assert clues == [Clue("Harwick keeps it.", "answer", "generate")]
    with pytest.raises(ValueError, match="empty"):
        recall_clues("copy", "  ", memory, DOCUMENTS)


def test_generate_labels_the_memorys_own_clues(tiny_llama):
    memory = tiny_memory(tiny_llama)
    clues = recall_clues("generate", QUESTION, memory, DOCUMENTS, config=RecallConfig(clue_kinds=("answer",)))
    assert all(c.strategy == "generate" and c.text.strip() for c in clues)


def tiny_gemma(attention: str):
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(0)
    config = Gemma3TextConfig(
        vocab_size=99,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=512,
        sliding_window=512,
        layer_types=["sliding_attention", "full_attention"],
        attn_implementation=attention,
    )
    return Gemma3ForCausalLM(config).eval()


def test_gemma_attention_reads_its_global_layer_with_normed_queries(tiny_llama):
    model, tokenizer = tiny_gemma("sdpa"), tiny_llama[1]
    memory = tiny_memory((model, tokenizer), beta=1)
    eager = tiny_gemma("eager")
    eager.load_state_dict(model.state_dict())
    stream = memorized_stream(tokenizer, prompt_frame(tokenizer).prefix, DOCUMENTS).ids.tolist()
    prompt, rows = question_prompt(memory.tokenizer, memory.frame, QUESTION, "question")
    with torch.no_grad():
        out = eager(input_ids=torch.tensor([stream + prompt]), output_attentions=True)
    assert global_layers(model) == [1]
    found = entry_attention(memory, prompt, rows, [1])[1]
    expected = out.attentions[1][0][:, [len(stream) + r for r in rows], : len(stream)]
    assert torch.allclose(found, expected, atol=1e-3), (found - expected).abs().max()
    clues = recall_clues("copy", QUESTION, memory, DOCUMENTS, config=RecallConfig(spans=2, max_span_tokens=8))
    assert clues and all(DOCUMENTS[c.doc_id].text[c.start : c.end] == c.text for c in clues)
