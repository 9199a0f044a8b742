"""Evaluation harness, data and metric layer: benchmark readers and LongBench-style answer metrics."""

from memorag.eval.datasets import (
    DatasetFormatError,
    EvalExample,
    discover_tasks,
    read_corpus,
    read_longbench_jsonl,
)
from memorag.eval.metrics import (
    METRICS,
    Metric,
    UnknownTaskError,
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

__all__ = [
    "METRICS",
    "DatasetFormatError",
    "EvalExample",
    "Metric",
    "UnknownTaskError",
    "answer_in_text",
    "best_over_answers",
    "discover_tasks",
    "evidence_recall",
    "exact_match",
    "first_line",
    "lcs_length",
    "metric_for_task",
    "normalize_answer",
    "qa_f1_score",
    "read_corpus",
    "read_longbench_jsonl",
    "rouge_l",
]
