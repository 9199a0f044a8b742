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
