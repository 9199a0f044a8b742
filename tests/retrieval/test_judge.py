"""The judge on a tiny random-weight Llama: its scores are the question's mean log-likelihood after the prompt,
the same in any batch, and a re-rank returns exactly top_k passages."""

from __future__ import annotations

import pytest
import torch

from memorag.config import JudgeConfig
from memorag.retrieval.judge import PROMPT, QueryLikelihoodJudge, judged_order
from memorag.types import Chunk, EvidencePassage

PASSAGES = ["the cat sat on the mat", "a much longer passage about dogs and their owners in the park",
            "x", "rain falls in the plain of spain"]
QUESTION = "where does the rain fall?"


def hand_score(model, tokenizer, passage: str, question: str) -> float:
    prompt = tokenizer(PROMPT.format(passage=passage), add_special_tokens=False)["input_ids"]
    asked = tokenizer(" " + question, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt + asked])).logits[0].float()
    logprobs = logits.log_softmax(-1)
    total = sum(logprobs[len(prompt) + j - 1, token].item() for j, token in enumerate(asked))
    return total / len(asked)


def test_scores_equal_a_hand_computed_log_likelihood(tiny_llama) -> None:
    model, tokenizer = tiny_llama
    judge = QueryLikelihoodJudge(model, tokenizer, JudgeConfig(batch_size=1, passage_tokens=512))
    scores = judge.score(QUESTION, PASSAGES)
    expected = [hand_score(model, tokenizer, passage, QUESTION) for passage in PASSAGES]
    assert scores == pytest.approx(expected, abs=1e-4)
    assert len({round(s, 4) for s in scores}) > 1  # the passages are told apart


@pytest.mark.parametrize("batch_size", [2, 3, 4])
def test_batched_equals_one_by_one_whatever_the_padding(tiny_llama, batch_size: int) -> None:
    model, tokenizer = tiny_llama
    alone = QueryLikelihoodJudge(model, tokenizer, JudgeConfig(batch_size=1)).score(QUESTION, PASSAGES)
    batched = QueryLikelihoodJudge(model, tokenizer, JudgeConfig(batch_size=batch_size)).score(QUESTION, PASSAGES)
    assert batched == pytest.approx(alone, abs=1e-4)


def test_memory_context_batched_equals_one_by_one(tiny_llama) -> None:
    model, tokenizer = tiny_llama
    torch.manual_seed(1)
    with torch.no_grad():
        cache = model(input_ids=torch.randint(2, 90, (1, 40)), use_cache=True).past_key_values
    memory = ([layer.keys for layer in cache.layers], [layer.values for layer in cache.layers])
    alone = QueryLikelihoodJudge(model, tokenizer, JudgeConfig(batch_size=1)).score(QUESTION, PASSAGES, memory)
    batched = QueryLikelihoodJudge(model, tokenizer, JudgeConfig(batch_size=4)).score(QUESTION, PASSAGES, memory)
    plain = QueryLikelihoodJudge(model, tokenizer, JudgeConfig(batch_size=4)).score(QUESTION, PASSAGES)
    assert batched == pytest.approx(alone, abs=1e-4)
    assert batched != pytest.approx(plain, abs=1e-4)  # the memory is read
    assert memory[0][0].shape[2] == 40  # and left as it was


def test_passages_are_cut_to_the_token_budget(tiny_llama) -> None:
    model, tokenizer = tiny_llama
    judge = QueryLikelihoodJudge(model, tokenizer, JudgeConfig(passage_tokens=10))
    long_prompt = judge._prompt_ids("y" * 500)
    assert len(long_prompt) == len(tokenizer(PROMPT.format(passage="y" * 10))["input_ids"])


def _pool(texts: list[str]) -> list[EvidencePassage]:
    chunks, start = [], 0
    for i, text in enumerate(texts):
        chunks.append(Chunk(i, 0, "doc", start, start + len(text), text))
        start += len(text)
    return [EvidencePassage(chunk, 0.5, ("q",)) for chunk in chunks]


@pytest.mark.parametrize("top_k", [1, 3, 10])
def test_rerank_returns_exactly_top_k_best_first(tiny_llama, top_k: int) -> None:
    model, tokenizer = tiny_llama
    judge = QueryLikelihoodJudge(model, tokenizer, JudgeConfig())
    pool = _pool(PASSAGES)
    ranked = judge.rerank(QUESTION, pool, top_k)
    assert len(ranked) == min(top_k, len(pool))  # a pool smaller than top_k is fine
    scores = [p.judge_score for p in ranked]
    assert all(s is not None for s in scores) and scores == sorted(scores, reverse=True)
    assert scores[0] == pytest.approx(max(judge.score(QUESTION, PASSAGES)), abs=1e-6)
    assert all(p.queries == ("q",) and p.score == 0.5 for p in ranked)  # provenance kept


def test_empty_pool_and_blank_question(tiny_llama) -> None:
    model, tokenizer = tiny_llama
    judge = QueryLikelihoodJudge(model, tokenizer, JudgeConfig())
    assert judge.rerank(QUESTION, [], 3) == []
    assert judge.score("  ", PASSAGES) == [0.0] * len(PASSAGES)


def test_judge_config_checks() -> None:
    with pytest.raises(ValueError, match="context"):
        JudgeConfig(context="everything")
    with pytest.raises(ValueError, match="pool"):
        JudgeConfig(pool=0)
    with pytest.raises(ValueError, match="prior"):
        JudgeConfig(prior=-1)
    assert not JudgeConfig(model="none").enabled and JudgeConfig().enabled


def test_the_prior_moves_the_judged_order_toward_the_pools_own() -> None:
    scores = [-3.0, -1.0, -2.0, -1.0]  # pool order 0..3; judge ranks 4, 1, 3, 2 (the tie keeps pool order)
    assert judged_order(scores) == [1, 3, 2, 0]  # the judge alone
    assert judged_order(scores, prior=100.0) == [0, 1, 2, 3]  # the retriever's order
    # prior 1: judge rank + pool rank = 5, 3, 6, 6: passage 2 and 3 tie, the higher judge score (3) first
    assert judged_order(scores, prior=1.0) == [1, 0, 3, 2]
    assert judged_order([]) == []


def test_rerank_with_a_prior_keeps_every_score_and_follows_judged_order(tiny_llama) -> None:
    model, tokenizer = tiny_llama
    pool = _pool(PASSAGES)
    judge = QueryLikelihoodJudge(model, tokenizer, JudgeConfig(prior=1.0))
    ranked = judge.rerank(QUESTION, pool, len(pool))
    scores = judge.score(QUESTION, PASSAGES)
    assert [p.chunk.chunk_id for p in ranked] == [pool[i].chunk.chunk_id for i in judged_order(scores, 1.0)]
    assert sorted(p.judge_score for p in ranked) == pytest.approx(sorted(scores), abs=1e-6)
