"""Needle tasks on the real Python Language Reference (stdlib text, no model weights) and on small texts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from memorag.eval.needles import (
    PAIR_TEMPLATES,
    HaystackTooShortError,
    NeedleTask,
    build_task,
    cut_haystack,
    haystack_text,
    holds,
    needle_chunks,
    needles_found,
)
from memorag.types import Chunk

CHARS_PER_TOKEN = 4.15


class WordTokenizer:
    """One token per white-space separated word: enough to test counting with a tokenizer."""

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[str]]:
        return {"input_ids": text.split()}


@pytest.fixture(scope="module")
def pydoc() -> str:
    return haystack_text("pydoc")[1]


@pytest.fixture(scope="module")
def task(pydoc: str) -> NeedleTask:
    return build_task(pydoc, 8000, singles=6, pairs=6, seed=0, chars_per_token=CHARS_PER_TOKEN, source="pydoc")


def _pattern(template: str) -> re.Pattern[str]:
    """A regex matching any sentence made from a template, every slot a run of non-period characters."""
    return re.compile(re.sub(r"\\\{\w+\\\}", "[^.]+", re.escape(template)) + r"\Z")


def test_every_fact_occurs_once_at_its_span(task: NeedleTask) -> None:
    assert len(task.facts) == 6 + 6 * 2 + 6 * 3
    for fact in task.facts:
        assert task.text[fact.start : fact.end] == fact.sentence
        assert task.text.count(fact.sentence) == 1
    for question in task.questions:
        assert len(question.needles) == len(question.spans) == (1 if question.kind == "single" else 2)
        for sentence, (start, end) in zip(question.needles, question.spans):
            assert task.text[start:end] == sentence


def test_facts_sit_at_paragraph_or_sentence_boundaries(task: NeedleTask) -> None:
    for fact in task.facts:
        before, after = task.text[max(0, fact.start - 2) : fact.start], task.text[fact.end : fact.end + 2]
        assert before.endswith(("\n", " ")), before
        assert after == "\n\n" or after[0] in "\n ", after
        if after.startswith(" "):  # inside a paragraph: the sentence before ends there
            assert re.search(r"[.!?][\"')\]]?[ \t]+\Z", task.text[: fact.start])


def test_task_is_about_the_asked_length(task: NeedleTask) -> None:
    assert 0.95 * 8000 <= task.tokens <= 8000 * 1.01
    assert task.tokens == round(len(task.text) / CHARS_PER_TOKEN)


def test_same_seed_same_task_other_seed_other_task(pydoc: str, task: NeedleTask) -> None:
    again = build_task(pydoc, 8000, singles=6, pairs=6, seed=0, chars_per_token=CHARS_PER_TOKEN, source="pydoc")
    assert again == task
    other = build_task(pydoc, 8000, singles=6, pairs=6, seed=1, chars_per_token=CHARS_PER_TOKEN, source="pydoc")
    assert other.text != task.text
    assert {q.question for q in other.questions}.isdisjoint(q.question for q in task.questions)


def test_multi_hop_questions_hide_the_bridge(task: NeedleTask) -> None:
    multi = [q for q in task.questions if q.kind == "multi"]
    assert len(multi) == 6
    for question in multi:
        assert question.bridge and question.bridge not in question.question
        hop1, hop2 = question.needles
        assert question.bridge in hop1 and question.bridge in hop2
        assert question.answer in hop2 and question.answer not in hop1
    for question in task.questions:
        assert question.answer not in question.question


def test_distractors_share_the_template_of_fact_b(task: NeedleTask) -> None:
    templates = {t.name: t for t in PAIR_TEMPLATES}
    for question in (q for q in task.questions if q.kind == "multi"):
        pattern = _pattern(templates[question.template].bridge_fact)
        assert pattern.match(question.needles[1])
        look_alikes = [d for d in task.distractors if d.template == question.template]
        assert len(look_alikes) >= 3
        for distractor in look_alikes:
            assert pattern.match(distractor.sentence)
            assert question.bridge not in distractor.sentence and question.answer not in distractor.sentence


def test_invented_names_occur_nowhere_in_the_haystack(pydoc: str, task: NeedleTask) -> None:
    haystack = pydoc.casefold()
    for question in task.questions:
        assert question.answer.casefold() not in haystack
        if question.bridge:
            assert question.bridge.casefold() not in haystack


def test_depths_are_respected(task: NeedleTask) -> None:
    for fact in task.facts:
        assert 0.05 <= fact.depth <= 0.95
        assert abs(fact.start / len(task.text) - fact.depth) < 0.03, fact
    singles = sorted(q.depths[0] for q in task.questions if q.kind == "single")
    assert singles[0] < 0.2 and singles[-1] > 0.8  # spread over the text, one per stratum
    for question in (q for q in task.questions if q.kind == "multi"):
        depth_a, depth_b = question.depths
        assert depth_a <= 0.40 and depth_b >= 0.60
        assert question.spans[0][1] < question.spans[1][0]


def test_too_short_haystack_raises_a_clear_error() -> None:
    text = "A sentence about nothing. " * 200
    with pytest.raises(HaystackTooShortError, match=r"text: the haystack holds about \d+ tokens, fewer than .* 8000-token task"):
        build_task(text, 8000, singles=2, pairs=2, chars_per_token=CHARS_PER_TOKEN)
    with pytest.raises(HaystackTooShortError, match="more than half"):
        build_task(text, 300, singles=6, pairs=6, chars_per_token=CHARS_PER_TOKEN)


def test_needle_counts_must_make_sense(pydoc: str) -> None:
    with pytest.raises(ValueError, match="at least one needle"):
        build_task(pydoc, 4000, singles=0, pairs=0, chars_per_token=CHARS_PER_TOKEN)
    with pytest.raises(ValueError, match="tokenizer or a positive chars_per_token"):
        build_task(pydoc, 4000, singles=1, pairs=1)


def test_cut_haystack_counts_with_a_tokenizer(pydoc: str) -> None:
    tokenizer = WordTokenizer()
    cut = cut_haystack(pydoc, 5000, tokenizer=tokenizer)
    assert 0.98 * 5000 <= len(cut.split()) <= 5000
    assert pydoc.startswith(cut)
    assert pydoc[len(cut) : len(cut) + 2] == "\n\n" or cut.endswith((".", "!", "?", ":"))
    task = build_task(pydoc, 5000, singles=2, pairs=2, tokenizer=tokenizer)
    assert task.tokens == len(task.text.split()) and 0.95 * 5000 <= task.tokens <= 5000


def _chunk(chunk_id: int, start: int, end: int) -> Chunk:
    return Chunk(chunk_id, 0, "t", start, end, "x" * (end - start))


def test_a_chunk_holds_a_needle_only_whole_by_default() -> None:
    span = (100, 150)
    assert holds(_chunk(0, 90, 160), span) and holds(_chunk(0, 100, 150), span)
    assert not holds(_chunk(0, 110, 300), span)  # clips the start
    assert holds(_chunk(0, 110, 300), span, min_share=0.8) and not holds(_chunk(0, 130, 300), span, 0.8)
    assert not holds(_chunk(0, 150, 300), span, min_share=0.0)  # touching is not overlapping


def test_needles_found_needs_every_needle_for_a_multi_hop_hit(task: NeedleTask) -> None:
    step = 700
    chunks = [_chunk(i, start, min(start + 900, len(task.text))) for i, start in enumerate(range(0, len(task.text), step))]
    question = next(q for q in task.questions if q.kind == "multi")
    holding = needle_chunks(question, chunks)
    assert all(holding) and holding[0].isdisjoint(holding[1])
    assert needles_found(holding, set()) == (False, 0.0)
    assert needles_found(holding, holding[0]) == (False, 0.5)
    assert needles_found(holding, [*holding[0], *holding[1]]) == (True, 1.0)


def test_haystack_sources(tmp_path: Path) -> None:
    rows = [{"input": "q", "context": context, "answers": ["a"], "_id": str(i)}
            for i, context in enumerate(["First context.", "Second context.", "First context."])]
    path = tmp_path / "task.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    assert haystack_text(path) == ("task", "First context.\n\nSecond context.")  # repeated contexts once
    text_file = tmp_path / "book.txt"
    text_file.write_text("Some text.", encoding="utf-8")
    assert haystack_text(text_file) == ("book.txt", "Some text.")
    with pytest.raises(FileNotFoundError, match="neither 'pydoc' nor a file"):
        haystack_text(tmp_path / "missing.txt")
