"""Unit tests for the shared truncation helpers in memorag.generation.base (no models, no network)."""

from __future__ import annotations

import pytest

from memorag.errors import GenerationError
from memorag.generation.base import (
    check_messages,
    estimate_tokens,
    fit_messages,
    head_and_tail,
    prompt_budget,
    truncate_middle,
)


def count_words(text: str) -> int:
    return len(text.split())


def test_head_and_tail_splits_budget_head_first() -> None:
    items = list(range(10))
    assert head_and_tail(items, 5) == ([0, 1], [7, 8, 9])  # head 5 // 2, tail the rest
    assert head_and_tail(items, 4) == ([0, 1], [8, 9])
    assert head_and_tail(items, 1) == ([], [9])
    assert head_and_tail(items, 0) == ([], [])
    assert head_and_tail(items, 12) == (items, [])
    with pytest.raises(ValueError):
        head_and_tail(items, -1)


def test_estimate_tokens_rounds_up() -> None:
    assert [estimate_tokens(t) for t in ("", "a", "abcd", "abcde")] == [0, 1, 1, 2]


def test_truncate_middle_keeps_text_within_budget_unchanged() -> None:
    assert truncate_middle("abcdefgh", 2, estimate_tokens) == "abcdefgh"


def test_truncate_middle_by_estimate_keeps_head_and_tail_characters() -> None:
    text = "HEAD" + "x" * 32 + "TAIL"  # 40 chars = 10 estimated tokens
    assert truncate_middle(text, 2, estimate_tokens) == "HEADTAIL"  # 8 chars: 4 head, 4 tail
    cut = truncate_middle(text, 5, estimate_tokens)
    assert cut == "HEAD" + "x" * 12 + "TAIL"  # 40 * 5 // 10 = 20 chars: 10 head, 10 tail
    assert truncate_middle(text, 0, estimate_tokens) == ""


def test_truncate_middle_shrinks_until_the_counter_agrees() -> None:
    text = "a bb ccc dddd eeeee ffffff"  # 26 chars, 6 words
    # first try keeps 26 * 3 // 6 = 13 chars, "a bb c" + " ffffff" = 4 words; 1 over, so 4 chars fewer
    assert truncate_middle(text, 3, count_words) == "a bbfffff"


def test_fit_messages_cuts_the_longest_message_in_the_middle() -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "Q: " + "filler " * 50 + "what now?"},
    ]

    def count_prompt(ms: list[dict[str, str]]) -> int:
        return sum(count_words(m["content"]) + 1 for m in ms)  # one template token per message

    def truncate(text: str, max_tokens: int) -> str:
        words = text.split()
        head, tail = head_and_tail(words, max_tokens)
        return " ".join([*head, *tail])

    fitted = fit_messages(messages, 12, count_prompt, count_words, truncate)
    assert fitted[0] == messages[0]
    assert fitted[1]["content"] == "Q: filler filler filler filler filler what now?"  # 8 words: 4 + 4
    assert count_prompt(fitted) == 12
    assert messages[1]["content"].startswith("Q: filler filler filler filler")  # input untouched


def test_fit_messages_raises_when_the_rest_cannot_fit() -> None:
    messages = [{"role": "system", "content": "one two three four"}, {"role": "user", "content": "a b c d e"}]

    def count_prompt(ms: list[dict[str, str]]) -> int:
        return sum(count_words(m["content"]) for m in ms)

    # 9 words for a budget of 3: the longest message would have to keep 4 - 6 = -2 words
    with pytest.raises(GenerationError, match="max_new_tokens"):
        fit_messages(messages, 3, count_prompt, count_words, lambda text, max_tokens: text)


def test_prompt_budget_reserves_new_tokens() -> None:
    assert prompt_budget(100, 30) == 70
    with pytest.raises(GenerationError, match="lower max_new_tokens"):
        prompt_budget(100, 100)
    with pytest.raises(ValueError):
        prompt_budget(100, 0)


@pytest.mark.parametrize(
    "messages",
    [[], [{"role": "robot", "content": "hi"}], [{"role": "user"}], [{"role": "user", "content": 1}]],
)
def test_check_messages_rejects_malformed(messages: list[dict[str, str]]) -> None:
    with pytest.raises(ValueError):
        check_messages(messages)
