"""LongBench-format and user-corpus readers on small files written in a temporary folder."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from memorag.errors import InputDecodeError
from memorag.eval.datasets import (
    DatasetFormatError,
    EvalExample,
    discover_tasks,
    read_corpus,
    read_longbench_jsonl,
)


def _row(index: int, **overrides: Any) -> dict[str, Any]:
    row = {
        "input": f"question {index}?",
        "context": f"passage number {index}",
        "answers": [f"answer {index}", f"alias {index}"],
        "length": 3,
        "dataset": "hotpotqa",
        "language": "en",
        "all_classes": None,
        "_id": f"id{index}",
    }
    return {**row, **overrides}


def _write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture
def five_rows(tmp_path: Path) -> Path:
    return _write_jsonl(tmp_path / "hotpotqa.jsonl", [_row(i) for i in range(5)])


def test_reads_fields_and_keeps_extras(five_rows: Path) -> None:
    examples = read_longbench_jsonl(five_rows)
    assert [example.id for example in examples] == ["id0", "id1", "id2", "id3", "id4"]
    assert examples[2] == EvalExample(
        id="id2",
        question="question 2?",
        context="passage number 2",
        answers=("answer 2", "alias 2"),
        task="hotpotqa",
        length=3,
        extra={"dataset": "hotpotqa", "language": "en", "all_classes": None},
    )


def test_task_is_the_file_stem_and_length_defaults_to_word_count(tmp_path: Path) -> None:
    row = _row(0, _id=7)
    del row["length"]
    (example,) = read_longbench_jsonl(_write_jsonl(tmp_path / "leval_news_summ.jsonl", [row]))
    assert (example.task, example.length, example.id) == ("leval_news_summ", 3, "7")


def test_limit_samples_deterministically_in_file_order(five_rows: Path) -> None:
    first = [example.id for example in read_longbench_jsonl(five_rows, limit=3, seed=0)]
    again = [example.id for example in read_longbench_jsonl(five_rows, limit=3, seed=0)]
    expected = [f"id{i}" for i in sorted(random.Random(0).sample(range(5), 3))]
    assert first == again == expected
    seeds = {
        tuple(example.id for example in read_longbench_jsonl(five_rows, limit=2, seed=s)) for s in range(8)
    }
    assert len(seeds) > 1  # the seed matters
    assert len(read_longbench_jsonl(five_rows, limit=5)) == 5
    assert len(read_longbench_jsonl(five_rows, limit=50)) == 5
    assert read_longbench_jsonl(five_rows, limit=0) == []


def test_ids_filter_keeps_file_order_then_limit_applies(five_rows: Path) -> None:
    chosen = read_longbench_jsonl(five_rows, ids=["id4", "id1", "id3"])
    assert [example.id for example in chosen] == ["id1", "id3", "id4"]
    limited = read_longbench_jsonl(five_rows, ids=["id4", "id1", "id3"], limit=2, seed=1)
    expected = [["id1", "id3", "id4"][i] for i in sorted(random.Random(1).sample(range(3), 2))]
    assert [example.id for example in limited] == expected


def test_unknown_id_and_negative_limit_raise(five_rows: Path) -> None:
    with pytest.raises(DatasetFormatError, match="no example with _id nope"):
        read_longbench_jsonl(five_rows, ids=["id1", "nope"])
    with pytest.raises(ValueError, match="limit"):
        read_longbench_jsonl(five_rows, limit=-1)


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(_row(0)) + "\n\n  \n" + json.dumps(_row(1)) + "\n", encoding="utf-8")
    assert len(read_longbench_jsonl(path)) == 2


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(_row(0)) + "\n" + json.dumps(_row(1)) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(DatasetFormatError, match=r"broken\.jsonl:3: not valid JSON"):
        read_longbench_jsonl(path)


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ({k: v for k, v in _row(0).items() if k != "answers"}, "missing field.*answers"),
        ({k: v for k, v in _row(0).items() if k not in ("input", "_id")}, "missing field.*input, _id"),
        (_row(0, answers=[]), "non-empty list of strings"),
        (_row(0, answers=[1, 2]), "non-empty list of strings"),
        (_row(0, context=None), "'context' must be a string"),
        (_row(0, length="long"), "'length' must be an integer"),
        (["a", "list"], "expected a JSON object"),
    ],
)
def test_bad_fields_raise_with_line(tmp_path: Path, bad_row: Any, message: str) -> None:
    path = _write_jsonl(tmp_path / "t.jsonl", [_row(1), bad_row])
    with pytest.raises(DatasetFormatError, match=rf"t\.jsonl:2: .*{message}"):
        read_longbench_jsonl(path)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "alpha.txt").write_text("Alpha is first.", encoding="utf-8")
    (docs / "beta.md").write_text("Beta is second.", encoding="utf-8")
    (docs / ".hidden").write_text("ignored", encoding="utf-8")
    return docs


def test_read_corpus(corpus: Path, tmp_path: Path) -> None:
    questions = _write_jsonl(
        tmp_path / "questions.jsonl",
        [
            {"question": "Which is first?", "answers": ["Alpha"], "doc": "alpha.txt", "topic": "order"},
            {"question": "Both?", "answers": "Alpha and Beta", "doc": ["beta", "alpha"]},
            {"question": "All?", "answers": ["two"]},
        ],
    )
    first, both, every = read_corpus(corpus, questions)
    assert first == EvalExample(
        id="q1",
        question="Which is first?",
        context="Alpha is first.",
        answers=("Alpha",),
        task="corpus_qa",
        length=3,
        extra={"topic": "order", "doc_names": ["alpha.txt"]},
    )
    assert both.context == "Beta is second.\n\nAlpha is first."  # the order given, stems resolved
    assert both.answers == ("Alpha and Beta",)
    assert (every.id, every.context, every.extra["doc_names"]) == (
        "q3",
        "Alpha is first.\n\nBeta is second.",
        ["alpha.txt", "beta.md"],
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"question": "q", "answers": ["a"], "doc": "gamma"}, "no document 'gamma'"),
        ({"question": "q", "answers": ["a"], "doc": []}, "'doc' must be a file name"),
        ({"question": "q"}, "missing field.*answers"),
    ],
)
def test_read_corpus_errors_name_the_line(corpus: Path, tmp_path: Path, line: Any, message: str) -> None:
    questions = _write_jsonl(tmp_path / "questions.jsonl", [line])
    with pytest.raises(DatasetFormatError, match=rf"questions\.jsonl:1: .*{message}"):
        read_corpus(corpus, questions)


def test_read_corpus_ambiguous_stem_and_binary_file(corpus: Path, tmp_path: Path) -> None:
    (corpus / "alpha.md").write_text("Another alpha.", encoding="utf-8")
    questions = _write_jsonl(tmp_path / "q.jsonl", [{"question": "q", "answers": ["a"], "doc": "alpha"}])
    with pytest.raises(DatasetFormatError, match="ambiguous"):
        read_corpus(corpus, questions)
    (corpus / "image.bin").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(InputDecodeError, match="image.bin"):
        read_corpus(corpus, questions)


def test_read_corpus_needs_documents(tmp_path: Path) -> None:
    questions = _write_jsonl(tmp_path / "q.jsonl", [{"question": "q", "answers": ["a"]}])
    with pytest.raises(FileNotFoundError, match="documents folder not found"):
        read_corpus(tmp_path / "missing", questions)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no documents"):
        read_corpus(tmp_path / "empty", questions)


def test_discover_tasks(tmp_path: Path) -> None:
    (tmp_path / "b.jsonl").write_text("", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("", encoding="utf-8")
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "a.jsonl").write_text("", encoding="utf-8")
    (tmp_path / "set" / "deep").mkdir()
    (tmp_path / "set" / "deep" / "c.jsonl").write_text("", encoding="utf-8")  # two levels down: not found
    assert discover_tasks(tmp_path) == [tmp_path / "b.jsonl", tmp_path / "set" / "a.jsonl"]
    assert discover_tasks(tmp_path / "b.jsonl") == [tmp_path / "b.jsonl"]
    with pytest.raises(ValueError, match="not a .jsonl file"):
        discover_tasks(tmp_path / "notes.txt")
    with pytest.raises(FileNotFoundError):
        discover_tasks(tmp_path / "absent")
    (tmp_path / "nothing").mkdir()
    with pytest.raises(FileNotFoundError, match="no .jsonl files"):
        discover_tasks(tmp_path / "nothing")


def test_unicode_line_separators_inside_strings_are_not_line_breaks(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    row = _row(0, context="one\u2028two\x85three")
    path.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    (example,) = read_longbench_jsonl(path)
    assert example.context == "one\u2028two\x85three"


def test_non_utf8_file_raises_input_decode_error(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"input": "\xff"}\n')
    with pytest.raises(InputDecodeError, match=r"t\.jsonl: not UTF-8"):
        read_longbench_jsonl(path)
