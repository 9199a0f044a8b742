"""benchmarks/fusion_sweep.py: re-scored recall at a question weight, and a weight chosen on other folders."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import fusion_sweep

from memorag.types import Chunk

CHUNKS = [Chunk(i, 0, "doc", 10 * i, 10 * i + 9, text) for i, text in enumerate(
    ["the code is 42", "filler one", "filler two", "filler three", "filler four", "filler five"])]


def test_the_question_weight_decides_between_question_and_clue_hits():
    question = ("Which code?", [(1, 0.9), (0, 0.5)])  # the question ranks the answer chunk second
    clue_a = ("clue a", [(2, 0.9), (3, 0.8), (4, 0.7)])
    clue_b = ("clue b", [(2, 0.9), (3, 0.8), (5, 0.7)])
    per_query = [question, clue_a, clue_b]
    assert fusion_sweep.recall_at(per_query, CHUNKS, {0}, 1.0)["3"] == 0.0  # two clues outvote it
    assert fusion_sweep.recall_at(per_query, CHUNKS, {0}, 4.0)["3"] == 1.0


def test_the_weight_is_chosen_on_one_side_and_reported_on_the_other():
    hit, miss = {"3": 1.0, "5": 1.0}, {"3": 0.0, "5": 0.0}
    chosen = [{"memorag": {1.0: [miss, miss], 4.0: [hit, miss]}}]
    reported = [{"memorag": {1.0: [hit], 4.0: [miss]}}]
    (entry,) = fusion_sweep.choose_and_report(chosen, reported, [1.0, 4.0])
    assert entry["chosen_weight"] == 4.0 and entry["choose"]["4.0"]["r5"] == 50.0
    assert entry["report"]["4.0"] == {"n": 1, "r3": 0.0, "r5": 0.0}  # reported as found, not re-chosen
    table = fusion_sweep.markdown([entry], [1.0, 4.0])
    assert "| `memorag` | 4 | 2 | 1 | 100.0 | 0.0 | 0.0 |" in table
