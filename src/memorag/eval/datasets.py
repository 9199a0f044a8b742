"""Evaluation examples read from LongBench-format JSON lines, or from a user's own folder of documents.

A LongBench-format line holds `input` (question or instruction), `context`, `answers` (list of str), `length`,
`dataset` and `_id`; any other field is kept in `EvalExample.extra`. Does not download data, tokenize, or
build prompts (LongBench's per-task prompt templates belong to the runner).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memorag.errors import InputDecodeError, MemoRAGError

_LONGBENCH_REQUIRED = ("input", "context", "answers", "_id")
_LONGBENCH_KNOWN = frozenset({*_LONGBENCH_REQUIRED, "length"})
_CORPUS_KNOWN = frozenset({"question", "answers", "doc"})
DOC_SEPARATOR = "\n\n"


class DatasetFormatError(MemoRAGError, ValueError):
    """A data file line is not valid JSON, misses a field, or a field has the wrong type."""


@dataclass(frozen=True)
class EvalExample:
    """One scored question: `context` is the long text, `answers` the references, `length` its word count."""

    id: str
    question: str
    context: str
    answers: tuple[str, ...]
    task: str
    length: int
    extra: dict[str, Any] = field(default_factory=dict)


def _json_lines(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(1-based line number, object) for every non-blank line; DatasetFormatError names file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InputDecodeError(f"{path}: not UTF-8 text ({err.reason}); save it as UTF-8 JSON lines") from err
    rows = []
    # split on "\n" only: splitlines would also break at U+2028 or U+0085 inside a JSON string
    for line_number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DatasetFormatError(f"{path}:{line_number}: not valid JSON ({err.msg})") from err
        if not isinstance(row, dict):
            raise DatasetFormatError(
                f"{path}:{line_number}: expected a JSON object, got {type(row).__name__}"
            )
        rows.append((line_number, row))
    return rows


def _answers(value: Any, where: str) -> tuple[str, ...]:
    """A non-empty tuple of str from a JSON list of strings (or one string)."""
    answers = [value] if isinstance(value, str) else value
    if not isinstance(answers, list) or not answers or not all(isinstance(a, str) for a in answers):
        raise DatasetFormatError(f"{where}: 'answers' must be a non-empty list of strings, got {value!r:.80}")
    return tuple(answers)


def _string_field(row: dict[str, Any], name: str, where: str) -> str:
    value = row[name]
    if not isinstance(value, str):
        raise DatasetFormatError(f"{where}: {name!r} must be a string, got {type(value).__name__}")
    return value


def _longbench_example(row: dict[str, Any], task: str, where: str) -> EvalExample:
    """One LongBench row; `length` defaults to the white-space word count of the context when absent."""
    missing = [name for name in _LONGBENCH_REQUIRED if name not in row]
    if missing:
        raise DatasetFormatError(f"{where}: missing field(s) {', '.join(missing)} (LongBench format)")
    context = _string_field(row, "context", where)
    length = row.get("length", len(context.split()))
    if not isinstance(length, int) or isinstance(length, bool):
        raise DatasetFormatError(f"{where}: 'length' must be an integer, got {length!r:.40}")
    return EvalExample(
        id=str(row["_id"]),
        question=_string_field(row, "input", where),
        context=context,
        answers=_answers(row["answers"], where),
        task=task,
        length=length,
        extra={key: value for key, value in row.items() if key not in _LONGBENCH_KNOWN},
    )


def read_longbench_jsonl(
    path: Path, limit: int | None = None, ids: Sequence[str] | None = None, seed: int = 0
) -> list[EvalExample]:
    """Examples of one LongBench-format file, in file order; the task is the file stem.

    `ids` keeps only those `_id`s (all must exist); then `limit` keeps a `random.Random(seed).sample` of that
    many when fewer than the count, still returned in file order. The `dataset` field lands in `extra`.
    """
    path = Path(path)
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit}")
    examples = [_longbench_example(row, path.stem, f"{path}:{n}") for n, row in _json_lines(path)]
    if ids is not None:
        wanted = set(ids)
        unknown = wanted - {example.id for example in examples}
        if unknown:
            raise DatasetFormatError(f"{path}: no example with _id {', '.join(sorted(unknown))}")
        examples = [example for example in examples if example.id in wanted]
    if limit is not None and limit < len(examples):
        keep = sorted(random.Random(seed).sample(range(len(examples)), limit))
        examples = [examples[i] for i in keep]
    return examples


def _read_documents(docs_dir: Path) -> dict[str, str]:
    """File name -> UTF-8 text for the visible files directly in `docs_dir`, sorted by name."""
    if not docs_dir.is_dir():
        raise FileNotFoundError(f"documents folder not found: {docs_dir}")
    documents = {}
    for doc_path in sorted(docs_dir.iterdir()):
        if not doc_path.is_file() or doc_path.name.startswith("."):
            continue
        try:
            documents[doc_path.name] = doc_path.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise InputDecodeError(
                f"{doc_path}: not UTF-8 text ({err.reason}); convert or remove it"
            ) from err
    if not documents:
        raise FileNotFoundError(f"no documents in {docs_dir}: add UTF-8 text files to it")
    return documents


def _resolve_doc(name: str, documents: dict[str, str], where: str) -> str:
    """The file name that `name` means: an exact file name, else the one file with that stem."""
    if name in documents:
        return name
    matches = [file_name for file_name in documents if Path(file_name).stem == name]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise DatasetFormatError(
            f"{where}: doc {name!r} is ambiguous ({', '.join(matches)}); use the file name"
        )
    raise DatasetFormatError(f"{where}: no document {name!r}; documents are {', '.join(documents)}")


def _corpus_example(
    row: dict[str, Any], line_number: int, documents: dict[str, str], task: str, where: str
) -> EvalExample:
    """One question of a user corpus; context = the named docs joined in the order given, or all docs."""
    missing = [name for name in ("question", "answers") if name not in row]
    if missing:
        raise DatasetFormatError(
            f"{where}: missing field(s) {', '.join(missing)} (needs question and answers)"
        )
    doc = row.get("doc")
    names = [doc] if isinstance(doc, str) else doc
    if names is None:
        doc_names = list(documents)
    elif isinstance(names, list) and names and all(isinstance(name, str) for name in names):
        doc_names = [_resolve_doc(name, documents, where) for name in names]
    else:
        raise DatasetFormatError(f"{where}: 'doc' must be a file name or a non-empty list of them")
    context = DOC_SEPARATOR.join(documents[name] for name in doc_names)
    extra = {key: value for key, value in row.items() if key not in _CORPUS_KNOWN}
    return EvalExample(
        id=f"q{line_number}",
        question=_string_field(row, "question", where),
        context=context,
        answers=_answers(row["answers"], where),
        task=task,
        length=len(context.split()),
        extra={**extra, "doc_names": doc_names},
    )


def read_corpus(docs_dir: Path, questions_jsonl: Path, task: str = "corpus_qa") -> list[EvalExample]:
    """Examples over a user's own documents: a folder of UTF-8 files and JSON lines of questions.

    Each line holds `question`, `answers` (list of str, or one str) and optionally `doc` (a file name or stem,
    or a list of them). The id is `q<line number>`; `extra["doc_names"]` lists the files joined into the context.
    """
    documents = _read_documents(Path(docs_dir))
    questions_jsonl = Path(questions_jsonl)
    return [
        _corpus_example(row, n, documents, task, f"{questions_jsonl}:{n}")
        for n, row in _json_lines(questions_jsonl)
    ]


def discover_tasks(path: Path) -> list[Path]:
    """Task files under `path`: a .jsonl file is itself; a folder gives its *.jsonl and its subfolders', sorted."""
    path = Path(path)
    if path.is_file():
        if path.suffix != ".jsonl":
            raise ValueError(f"{path} is not a .jsonl file; pass a .jsonl file or a folder of them")
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"no such file or folder: {path}")
    found = sorted(p for p in [*path.glob("*.jsonl"), *path.glob("*/*.jsonl")] if p.is_file())
    if not found:
        raise FileNotFoundError(f"no .jsonl files in {path} or its direct subfolders")
    return found
