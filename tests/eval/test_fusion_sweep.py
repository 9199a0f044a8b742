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


def test_the_best_configuration_is_chosen_on_one_side_and_paired_with_rag_on_the_other():
    def hits(row_id, hit):
        return {"id": row_id, "3": hit, "5": hit}

    chosen = [{"rag": {1.0: [hits("a", 1.0), hits("b", 0.0)], 4.0: [hits("a", 1.0), hits("b", 0.0)]},
               "hyde": {1.0: [hits("a", 1.0), hits("b", 1.0)], 4.0: [hits("a", 1.0), hits("b", 1.0)]},
               "memorag:copy": {1.0: [hits("a", 0.0), hits("b", 0.0)], 4.0: [hits("a", 1.0), hits("b", 1.0)]},
               "memorag:generate": {1.0: [hits("a", 1.0), hits("b", 1.0)], 4.0: [hits("a", 1.0), hits("b", 0.0)]}}]
    reported = [{"rag": {1.0: [hits("c", 1.0), hits("d", 0.0), hits("e", 0.0)]},
                 "memorag:generate": {1.0: [hits("c", 0.0), hits("d", 1.0), hits("e", 1.0), hits("f", 1.0)]}}]
    table = fusion_sweep.choose_and_report(chosen, reported, [1.0, 4.0])
    best = fusion_sweep.best_configuration(table, reported, [1.0, 4.0])
    # rag and hyde are never chosen; copy at 4 ties generate at 1: the smaller weight wins the tie
    assert (best["method"], best["weight"], best["choose_r5"]) == ("memorag:generate", 1.0, 100.0)
    # row f has no rag row, so it is left out of the pairing
    assert (best["n"], best["won"], best["lost"]) == (3, 2, 1)
    assert round(best["r5"], 1) == 66.7 and round(best["baseline_r5"], 1) == 33.3 and best["p"] == 1.0
    assert "`memorag:generate` with the question weighted 1" in fusion_sweep.best_line(best)
    assert fusion_sweep.best_configuration([e for e in table if e["method"] == "rag"], reported, [1.0]) is None
