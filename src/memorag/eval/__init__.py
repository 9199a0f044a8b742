"""Evaluation harness: benchmark readers, LongBench-style metrics, the compared methods and the resumable runner.

Importing it loads no model and no torch; `run_eval` loads them when it first needs a store.
"""

from memorag.eval.datasets import (
    DatasetFormatError,
    EvalExample,
    discover_tasks,
    read_corpus,
    read_longbench_jsonl,
)
from memorag.eval.methods import METHODS, MethodSpec, parse_method, parse_methods
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
from memorag.eval.report import build_summary, markdown_table
from memorag.eval.runner import EvalSettings, EvalSettingsError, StoreCache, load_examples, run_eval

__all__ = [
    "METHODS",
    "METRICS",
    "DatasetFormatError",
    "EvalExample",
    "EvalSettings",
    "EvalSettingsError",
    "MethodSpec",
    "Metric",
    "StoreCache",
    "UnknownTaskError",
    "answer_in_text",
    "best_over_answers",
    "build_summary",
    "discover_tasks",
    "evidence_recall",
    "exact_match",
    "first_line",
    "lcs_length",
    "load_examples",
    "markdown_table",
    "metric_for_task",
    "normalize_answer",
    "parse_method",
    "parse_methods",
    "qa_f1_score",
    "read_corpus",
    "read_longbench_jsonl",
    "rouge_l",
    "run_eval",
]
