"""The Generator protocol every backend meets, and the middle truncation they share to fit their window.

Long inputs are cut LongBench style: keep the head and the tail of the text and drop the middle, because
instructions and questions sit at the ends of a prompt. Backends that can tokenize (local) cut exact token ids;
the HTTP backend cuts characters in proportion to its token estimate. Does not split on sentence boundaries.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar, runtime_checkable

from memorag.errors import GenerationError

T = TypeVar("T")
Messages = list[dict[str, str]]

ROLES = ("system", "user", "assistant")
CHARS_PER_TOKEN = 4  # rough English average for BPE tokenizers; used where no tokenizer is at hand
_FIT_ATTEMPTS = 4  # re-tokenizing at the cut can add a token or two; a few passes absorb that


@runtime_checkable
class Generator(Protocol):
    """Turns chat messages ({"role": ..., "content": ...}) into an answer."""

    model_id: str
    context_window: int  # prompt plus generated tokens must fit in this many positions

    def generate(self, messages: Messages, *, max_new_tokens: int = 128, temperature: float = 0.0) -> str:
        """Return the new text, stripped; temperature 0 decodes greedily (deterministic where the backend is)."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens in `text` without special tokens; exact or an estimate, as the backend documents."""
        ...


def check_messages(messages: Messages) -> None:
    """Raise ValueError unless messages is a non-empty list of {"role": system|user|assistant, "content": str}."""
    if not messages:
        raise ValueError("messages is empty; pass at least one {'role': 'user', 'content': ...} message")
    for index, message in enumerate(messages):
        if message.get("role") not in ROLES or not isinstance(message.get("content"), str):
            raise ValueError(
                f"messages[{index}] must have a role in {ROLES} and a string content, not {message!r:.120}"
            )


def head_and_tail(items: Sequence[T], budget: int) -> tuple[Sequence[T], Sequence[T]]:
    """Split a budget between the first and the last items: head gets budget // 2, tail the rest."""
    if budget < 0:
        raise ValueError(f"budget must be at least 0, not {budget}")
    if budget >= len(items):
        return items, items[:0]
    head = budget // 2
    tail = budget - head
    return items[:head], items[len(items) - tail :] if tail else items[:0]


def estimate_tokens(text: str) -> int:
    """ceil(len(text) / 4): an estimate for backends without a tokenizer (English; undercounts e.g. CJK)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def truncate_middle(text: str, max_tokens: int, count_tokens: Callable[[str], int]) -> str:
    """Keep the head and the tail of `text` so that count_tokens(result) <= max_tokens; drop the middle.

    Works on characters: keeps the fraction max_tokens / count_tokens(text) of them, split evenly between
    head and tail, then shrinks further while the count is still over. Exact for `estimate_tokens`; with a
    real tokenizer prefer cutting token ids (LocalGenerator.truncate_middle).
    """
    if max_tokens < 0:
        raise ValueError(f"max_tokens must be at least 0, not {max_tokens}")
    total = count_tokens(text)
    if total <= max_tokens:
        return text
    keep = len(text) * max_tokens // total
    while True:
        head, tail = head_and_tail(text, keep)
        result = f"{head}{tail}"
        over = count_tokens(result) - max_tokens
        if over <= 0 or keep == 0:
            return result
        keep = max(0, keep - max(1, over * CHARS_PER_TOKEN))


def fit_messages(
    messages: Messages,
    budget: int,
    count_prompt: Callable[[Messages], int],
    count_tokens: Callable[[str], int],
    truncate: Callable[[str, int], str],
) -> Messages:
    """Return messages whose prompt takes at most `budget` tokens, cutting the longest content in the middle.

    count_prompt counts the whole prompt (template included); count_tokens and truncate act on one content.
    Raises GenerationError when even an empty longest message would not fit.
    """
    fitted = [dict(message) for message in messages]
    for _ in range(_FIT_ATTEMPTS):
        excess = count_prompt(fitted) - budget
        if excess <= 0:
            return fitted
        longest = max(fitted, key=lambda message: len(message["content"]))
        keep = count_tokens(longest["content"]) - excess
        if keep <= 0:
            raise GenerationError(
                f"the prompt needs {excess} tokens more than the {budget} available even without its longest "
                "message; lower max_new_tokens, shorten the other messages, or use a model with a larger window"
            )
        longest["content"] = truncate(longest["content"], keep)
    if count_prompt(fitted) > budget:
        raise GenerationError(
            f"could not fit the prompt into {budget} tokens after {_FIT_ATTEMPTS} cuts; lower max_new_tokens"
        )
    return fitted


def prompt_budget(context_window: int, max_new_tokens: int) -> int:
    """Positions left for the prompt once max_new_tokens are reserved; raises if none are."""
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, not {max_new_tokens}")
    budget = context_window - max_new_tokens
    if budget < 1:
        raise GenerationError(
            f"max_new_tokens={max_new_tokens} leaves no room for a prompt in a {context_window}-token window; "
            "lower max_new_tokens"
        )
    return budget
