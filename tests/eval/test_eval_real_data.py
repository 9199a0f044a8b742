"""The first rows of every benchmark file in shared/data parse and carry usable answers."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import pytest

from memorag.eval.datasets import discover_tasks, read_longbench_jsonl
from memorag.eval.metrics import METRICS, metric_for_task

DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data"
ROWS = 3

if DATA_DIR.is_dir():
    FILES = [pytest.param(path, id=f"{path.parent.name}/{path.name}") for path in discover_tasks(DATA_DIR)]
else:
    FILES = [pytest.param(None, marks=pytest.mark.skip(reason=f"no benchmark data folder at {DATA_DIR}"))]


@pytest.mark.parametrize("path", FILES)
def test_first_rows_parse(path: Path, tmp_path: Path) -> None:
    head = tmp_path / path.name  # same stem, so the same task name
    with path.open(encoding="utf-8") as lines:
        head.write_text("".join(islice(lines, ROWS)), encoding="utf-8")
    examples = read_longbench_jsonl(head)
    assert len(examples) == ROWS
    for example in examples:
        assert example.id and example.context.strip() and example.length > 0
        assert isinstance(example.question, str)  # empty for LongBench multi_news, whose input is empty
        assert example.answers and all(answer.strip() for answer in example.answers)
        assert metric_for_task(example.task) in METRICS
        assert metric_for_task(example.task) == metric_for_task(example.extra["dataset"])
