"""Answer-quality metrics for long-context benchmarks, reimplemented after LongBench's `metrics.py` (pure functions).

`normalize_answer`, `qa_f1_score`, `first_line` and the max-over-references rule of `best_over_answers` follow
THUDM/LongBench (`metrics.py`, `eval.py`) exactly. `rouge_l` is a plain ROUGE-L F1 over one LCS of normalized
tokens; LongBench calls the `rouge` package (pltrdy), which is case-sensitive, keeps punctuation, splits both texts
into sentences on "." and scores a summary-level union LCS over sets of words, so summary scores here are close to
LongBench's but not identical. Left out: LongBench's Chinese metrics (jieba), classification, passage count,
passage retrieval and code similarity; `metric_for_task` raises `UnknownTaskError` for those tasks.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from memorag.errors import MemoRAGError

Metric = Callable[[str, str], float]  # (prediction, ground_truth) -> score in [0, 1]

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


class UnknownTaskError(MemoRAGError, ValueError):
    """A task name has no metric here (not a LongBench, L-Eval or MuSiQue task this module scores)."""


def normalize_answer(text: str) -> str:
    """Lower-case, drop ASCII punctuation, drop the articles a/an/the, collapse white space (LongBench order)."""
    lowered = text.lower()
    no_punctuation = "".join(ch for ch in lowered if ch not in _PUNCTUATION)
    no_articles = _ARTICLES.sub(" ", no_punctuation)
    return " ".join(no_articles.split())


def first_line(prediction: str) -> str:
    """The first line after leading newlines: LongBench cuts trec, triviaqa, samsum and lsht answers this way."""
    return prediction.lstrip("\n").split("\n")[0]


def _token_f1(prediction_tokens: Sequence[str], truth_tokens: Sequence[str]) -> float:
    """Bag-of-tokens F1; 0.0 when the bags share no token (also when either is empty)."""
    common = Counter(prediction_tokens) & Counter(truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(prediction_tokens)
    recall = num_same / len(truth_tokens)
    return 2 * precision * recall / (precision + recall)


def qa_f1_score(prediction: str, ground_truth: str) -> float:
    """Token F1 between the normalized prediction and reference (SQuAD/LongBench `qa_f1_score`)."""
    return _token_f1(normalize_answer(prediction).split(), normalize_answer(ground_truth).split())


def exact_match(prediction: str, ground_truth: str) -> float:
    """1.0 when prediction and reference are equal after `normalize_answer`, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(ground_truth))


def lcs_length(first: Sequence[str], second: Sequence[str]) -> int:
    """Length of the longest common subsequence, by dynamic programming in O(len(first) * len(second))."""
    if len(second) > len(first):
        first, second = second, first  # keep the DP row as short as possible
    previous = [0] * (len(second) + 1)
    for item in first:
        current = [0]
        for j, other in enumerate(second):
            current.append(previous[j] + 1 if item == other else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(prediction: str, ground_truth: str) -> float:
    """ROUGE-L F1 (Lin 2004, sentence level, beta 1) over white-space tokens of the normalized texts."""
    prediction_tokens = normalize_answer(prediction).split()
    truth_tokens = normalize_answer(ground_truth).split()
    lcs = lcs_length(prediction_tokens, truth_tokens)
    if lcs == 0:
        return 0.0
    precision = lcs / len(prediction_tokens)
    recall = lcs / len(truth_tokens)
    return 2 * precision * recall / (precision + recall)


METRICS: dict[str, Metric] = {
    "qa_f1": qa_f1_score,
    "exact_match": exact_match,
    "rouge_l": rouge_l,
}


def best_over_answers(metric: Metric | str, prediction: str, answers: Iterable[str]) -> float:
    """The best score over the reference answers, as LongBench scores; 0.0 when there is no reference.

    `metric` is a function or a name in `METRICS`.
    """
    score_fn = METRICS[metric] if isinstance(metric, str) else metric
    return max((score_fn(prediction, answer) for answer in answers), default=0.0)


# LongBench v1 English tasks this module scores (THUDM/LongBench eval.py, `dataset2metric`).
_LONGBENCH_TASKS = {
    "narrativeqa": "qa_f1",
    "qasper": "qa_f1",
    "multifieldqa_en": "qa_f1",
    "hotpotqa": "qa_f1",
    "2wikimqa": "qa_f1",
    "musique": "qa_f1",
    "triviaqa": "qa_f1",
    "gov_report": "rouge_l",
    "qmsum": "rouge_l",
    "multi_news": "rouge_l",
    "samsum": "rouge_l",
}
# L-Eval open-ended tasks (names with or without the "leval_" prefix); other "*_qa" / "*_summ" names by suffix.
_LEVAL_TASKS = {
    "multidoc_qa": "qa_f1",
    "scientific_qa": "qa_f1",
    "financial_qa": "qa_f1",
    "legal_contract_qa": "qa_f1",
    "natural_question": "qa_f1",
    "narrative_qa": "qa_f1",
    "paper_assistant": "rouge_l",
}
_OTHER_TASKS = {"musique_cacheblend": "qa_f1"}


def metric_for_task(dataset_name: str) -> str:
    """The `METRICS` key that scores a task: "hotpotqa" -> "qa_f1", "leval_news_summ" -> "rouge_l".

    Accepts LongBench names (and their LongBench-E "_e" variants), L-Eval names with or without "leval_",
    "musique_cacheblend", and any name ending in "_qa" (qa_f1) or "_summ" (rouge_l).
    """
    name = dataset_name.strip().lower()
    longbench_name = name.removesuffix("_e")
    if longbench_name in _LONGBENCH_TASKS:
        return _LONGBENCH_TASKS[longbench_name]
    leval_name = name.removeprefix("leval_")
    if leval_name in _LEVAL_TASKS:
        return _LEVAL_TASKS[leval_name]
    if name in _OTHER_TASKS:
        return _OTHER_TASKS[name]
    if name.endswith("_summ"):
        return "rouge_l"
    if name.endswith("_qa"):
        return "qa_f1"
    known = sorted({*_LONGBENCH_TASKS, *(f"leval_{task}" for task in _LEVAL_TASKS), *_OTHER_TASKS})
    raise UnknownTaskError(
        f"no metric for task {dataset_name!r}; known tasks: {', '.join(known)}, or any name ending in "
        f"'_qa' or '_summ'. Pick one of METRICS ({', '.join(METRICS)}) explicitly instead."
    )


def _searchable(text: str) -> str:
    """Case-folded text with runs of white space collapsed to one space, for substring tests."""
    return " ".join(text.casefold().split())


def evidence_recall(retrieved_texts: Sequence[str], gold_strings: Sequence[str]) -> float:
    """Share of the non-blank gold strings found (case-insensitively, white space collapsed) in any retrieved text.

    Raises ValueError when no gold string is non-blank: recall is undefined, so skip the example instead.
    """
    golds = [_searchable(gold) for gold in gold_strings if gold.strip()]
    if not golds:
        raise ValueError(
            "evidence_recall needs at least one non-blank gold string; skip examples without gold"
        )
    haystacks = [_searchable(text) for text in retrieved_texts]
    found = sum(any(gold in haystack for haystack in haystacks) for gold in golds)
    return found / len(golds)


def answer_in_text(answers: Iterable[str], text: str) -> bool:
    """Whether any non-blank answer occurs in `text` (case-insensitively, white space collapsed)."""
    haystack = _searchable(text)
    return any(_searchable(answer) in haystack for answer in answers if answer.strip())


# Words that carry no content: an abstractive answer's overlap with a chunk counts the others.
_FUNCTION_WORDS = frozenset(
    (
        "of", "in", "on", "at", "to", "for", "from", "by", "with", "as", "and", "or", "but", "is", "are",
        "was", "were", "be", "been", "being", "it", "its", "this", "that", "these", "those", "which", "who",
        "whom", "whose", "what", "when", "where", "how", "why", "he", "she", "they", "we", "you", "i", "his",
        "her", "their", "our", "your", "there", "not", "no", "yes", "do", "does", "did", "can", "could",
        "will", "would", "should", "may", "might", "has", "have", "had", "than", "then", "so", "if", "also",
        "into", "about", "such"
    )
)
MIN_OVERLAP_WORDS = 2  # an answer needs this many content words before overlap (not a verbatim match) can count


def content_words(text: str) -> set[str]:
    return {word for word in normalize_answer(text).split() if word not in _FUNCTION_WORDS}


def answer_bearing(texts: Sequence[str], answers: Iterable[str], min_share: float = 0.5) -> set[int]:
    """Indices of the texts (chunks) that bear a gold answer: every one that holds an answer verbatim
    (`answer_in_text`); where none does (abstractive answers: L-Eval, Qasper), the ones that cover the largest
    share, more than `min_share`, of an answer's content words (answers of MIN_OVERLAP_WORDS or more such words;
    so a two-word answer needs both). Empty when no chunk bears one: such an example is outside what any
    retrieval can reach."""
    answers = [answer for answer in answers if answer.strip()]
    verbatim = {i for i, text in enumerate(texts) if answer_in_text(answers, text)}
    if verbatim:
        return verbatim
    wanted = [words for words in map(content_words, answers) if len(words) >= MIN_OVERLAP_WORDS]
    if not wanted:
        return set()
    shares = [max(len(words & content_words(text)) / len(words) for words in wanted) for text in texts]
    best = max(shares, default=0.0)
    return {i for i, share in enumerate(shares) if share == best} if best > min_share else set()


SUPPORT_SHARE = 0.8  # share of an answer's content words that must occur in the evidence for it to count supported


def supported(prediction: str, evidence_texts: Sequence[str], min_share: float = SUPPORT_SHARE) -> float | None:
    """1.0 when at least `min_share` of the prediction's content words occur in the evidence it was given, else
    0.0; None for a prediction without content words (nothing to support). A quote is supported by construction;
    a generated answer that says what the evidence does not is not."""
    words = content_words(first_line(prediction))
    if not words:
        return None
    found = set().union(*(content_words(text) for text in evidence_texts)) if evidence_texts else set()
    return float(len(words & found) / len(words) >= min_share)
