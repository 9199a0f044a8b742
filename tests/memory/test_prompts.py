"""Clue parsing: one clue a line, list marks stripped, junk lines dropped."""

from __future__ import annotations

from memorag.memory.prompts import parse_clues


def test_list_marks_short_repeated_echo_and_boilerplate_lines_are_dropped():
    text = "1. The nonlocal statement binds names.\n- ok\n\n* The nonlocal statement binds names.\nThe text ends here.\nWhat is it?\n  Question 2: Which scope does nonlocal use?"
    clues = parse_clues(text, "span", question="What is it?")
    assert [c.text for c in clues] == ["The nonlocal statement binds names.", "Which scope does nonlocal use?"]
    assert all(c.kind == "span" and c.text.strip() for c in clues)


def test_limit_and_empty_output():
    assert parse_clues("", "question") == []
    assert len(parse_clues("\n".join(f"clue number {i} here" for i in range(9)), "question", limit=3)) == 3


def test_base_models_get_completion_prompts_that_end_at_a_line_break(tiny_llama):
    from memorag.memory.kv import newline_ids
    from memorag.memory.prompts import BASE_TASKS, prompt_frame

    frame = prompt_frame(tiny_llama[1])  # CharTokenizer: no chat template, like base Gemma 3
    assert not frame.chat
    suffix = frame.task_suffix("answer", question="Who keeps the ledger?")
    assert suffix.endswith(BASE_TASKS["answer"].format(question="Who keeps the ledger?"))

    class Vocab:
        def get_vocab(self):
            return {"a": 0, "Ċ": 1, "ĊĊ": 2, "<0x0A>": 3, "b\n": 4, "c": 5}

    assert newline_ids(Vocab()) == {1, 2, 3, 4}
