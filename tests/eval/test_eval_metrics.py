"""Metrics against hand-computed values; each expected number has its arithmetic beside it."""

from __future__ import annotations

import pytest

from memorag.eval.metrics import (
    METRICS,
    UnknownTaskError,
    answer_bearing,
    answer_in_text,
    best_over_answers,
    evidence_recall,
    exact_match,
    first_line,
    lcs_length,
    metric_for_task,
    normalize_answer,
    qa_f1_score,
    rouge_l,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Quick, brown FOX!", "quick brown fox"),  # lower, drop "," "!", drop "the"
        ("  an   apple\tand\na pear ", "apple and pear"),  # articles gone, white space collapsed
        ("A well-known fact.", "wellknown fact"),  # "-" removed without a space, as in LongBench
        ("theater banana another", "theater banana another"),  # articles only as whole words
        ("the", ""),
    ],
)
def test_normalize_answer(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


def test_qa_f1_partial_overlap() -> None:
    # [cat, sat] vs [cat, sat, down]: common 2 -> P = 2/2 = 1, R = 2/3, F1 = 2 * 1 * 2/3 / (1 + 2/3) = 0.8
    assert qa_f1_score("the cat sat", "a cat sat down") == pytest.approx(0.8)


def test_qa_f1_counts_repeated_tokens_once_per_match() -> None:
    # [cat, cat, cat] vs [cat]: common min(3, 1) = 1 -> P = 1/3, R = 1, F1 = 2 * 1/3 / (4/3) = 0.5
    assert qa_f1_score("cat cat cat", "cat") == pytest.approx(0.5)


def test_qa_f1_ignores_case_punctuation_and_articles() -> None:
    # both normalize to [eiffel, tower] -> P = R = 1
    assert qa_f1_score("The Eiffel Tower.", "eiffel tower") == 1.0


@pytest.mark.parametrize(("prediction", "truth"), [("dog", "cat"), ("", "cat"), ("cat", ""), ("the", "a")])
def test_qa_f1_is_zero_without_common_tokens(prediction: str, truth: str) -> None:
    assert qa_f1_score(prediction, truth) == 0.0


def test_exact_match() -> None:
    assert exact_match("The Eiffel Tower.", "eiffel  tower") == 1.0  # both "eiffel tower"
    assert exact_match("Eiffel Tower, Paris", "eiffel tower") == 0.0  # "eiffel tower paris" != "eiffel tower"


def test_lcs_length() -> None:
    assert lcs_length(list("ABCBDAB"), list("BDCABA")) == 4  # CLRS example: "BCBA"
    assert lcs_length([], ["x"]) == 0


def test_rouge_l_same_order() -> None:
    # [cat, sat, on, mat] vs [cat, lay, on, mat] ("the" dropped): LCS = cat on mat = 3
    # P = 3/4, R = 3/4, F = 0.75
    assert rouge_l("cat sat on mat", "The cat lay on the mat") == pytest.approx(0.75)


def test_rouge_l_is_order_sensitive_where_f1_is_not() -> None:
    # pred [police, killed, gunman], ref [gunman, was, killed, by, police]
    # ref positions of pred tokens: police 4, killed 2, gunman 0 -> decreasing, so LCS = 1
    # P = 1/3, R = 1/5, F = 2 * (1/15) / (8/15) = 0.25
    assert rouge_l("police killed the gunman", "the gunman was killed by police") == pytest.approx(0.25)
    # bag of tokens: common 3 -> P = 1, R = 3/5, F1 = 2 * 0.6 / 1.6 = 0.75
    assert qa_f1_score("police killed the gunman", "the gunman was killed by police") == pytest.approx(0.75)


def test_rouge_l_empty_is_zero() -> None:
    assert rouge_l("", "cat") == 0.0
    assert rouge_l("cat", "") == 0.0


def test_best_over_answers_takes_the_maximum() -> None:
    # vs "dog": 0; vs "cat sat down": P = 1, R = 2/3 -> 0.8; vs "cat": P = 1/2, R = 1 -> 2 * 0.5 / 1.5 = 2/3
    answers = ["dog", "cat sat down", "cat"]
    assert best_over_answers(qa_f1_score, "cat sat", answers) == pytest.approx(0.8)
    assert best_over_answers("qa_f1", "cat sat", answers) == pytest.approx(0.8)
    assert best_over_answers("exact_match", "Cat.", answers) == 1.0


def test_best_over_answers_without_answers_is_zero() -> None:
    assert best_over_answers(rouge_l, "anything", []) == 0.0  # LongBench starts from 0.0


def test_metrics_registry() -> None:
    assert METRICS == {"qa_f1": qa_f1_score, "exact_match": exact_match, "rouge_l": rouge_l}


@pytest.mark.parametrize(
    "task",
    [
        "hotpotqa",
        "2wikimqa",
        "musique",
        "musique_cacheblend",
        "narrativeqa",
        "hotpotqa_e",
        "leval_multidoc_qa",
        "leval_scientific_qa",
        "leval_financial_qa",
        "leval_legal_contract_qa",
        "leval_natural_question",
        "natural_question",
        "financial_qa",
        "corpus_qa",
    ],
)
def test_metric_for_qa_tasks(task: str) -> None:
    assert metric_for_task(task) == "qa_f1"


@pytest.mark.parametrize(
    "task",
    ["multi_news", "gov_report", "qmsum", "leval_gov_report_summ", "leval_news_summ", "meeting_summ"],
)
def test_metric_for_summarization_tasks(task: str) -> None:
    assert metric_for_task(task) == "rouge_l"


@pytest.mark.parametrize("task", ["trec", "passage_count", "lcc", "dureader", ""])
def test_metric_for_unknown_task_raises(task: str) -> None:
    with pytest.raises(UnknownTaskError, match="no metric for task"):
        metric_for_task(task)


def test_first_line() -> None:
    assert first_line("\n\nParis\nbecause it is the capital") == "Paris"
    assert first_line("Paris") == "Paris"
    assert first_line("") == ""


def test_evidence_recall() -> None:
    retrieved = ["Alpha BETA\ngamma", "Delta"]
    # "beta gamma" found (case and white space ignored), "delta" found, "omega" not: 2/3
    assert evidence_recall(retrieved, ["beta  gamma", "DELTA", "omega"]) == pytest.approx(2 / 3)
    assert evidence_recall([], ["x"]) == 0.0
    assert evidence_recall(retrieved, ["alpha", " "]) == 1.0  # blank gold strings do not count


def test_evidence_recall_without_gold_raises() -> None:
    with pytest.raises(ValueError, match="non-blank gold"):
        evidence_recall(["text"], ["", "  "])


def test_answer_in_text() -> None:
    assert answer_in_text(["London", "Paris"], "The capital is\nPARIS.")
    assert not answer_in_text(["London"], "The capital is Paris.")
    assert not answer_in_text(["", " "], "anything")  # blank answers never match


CHUNKS = [
    "We train a linear SVM on the tweets.",
    "Our models are a BiLSTM and a CNN, compared against a linear SVM baseline.",
    "The dataset holds 32 trustworthy accounts.",
]


def test_answer_bearing_chunks_hold_the_answer_verbatim_where_one_does():
    assert answer_bearing(CHUNKS, ["linear SVM"]) == {0, 1}  # every verbatim holder, overlap not consulted
    assert answer_bearing(CHUNKS, ["32 trustworthy accounts", "nowhere"]) == {2}


def test_abstractive_answers_bear_on_the_chunk_covering_most_of_their_content_words():
    # content words: linear, svm, bilstm, cnn -> chunk 1 covers 4 of 4, chunk 0 two of 4
    assert answer_bearing(CHUNKS, ["linear SVM, bidirectional LSTM (BiLSTM) and a CNN"]) == {1}
    assert answer_bearing(CHUNKS, ["a Naive Bayes model with attention"]) == set()  # under half of its words
    assert answer_bearing(CHUNKS, ["Yes"]) == set()  # one word: only a verbatim match could count
    assert answer_bearing(CHUNKS, ["SVM tweets"]) == {0}
    assert answer_bearing(CHUNKS, ["SVM forests"]) == set()  # half of a two-word answer is not enough
    assert answer_bearing(CHUNKS, ["SVM forests"], min_share=0.4) == {0, 1}  # ties at the best share all count
