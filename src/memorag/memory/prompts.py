"""Prompts of the memory model, shaped after MemoRAG's (paper section 2.2; the release's `prompt.py`).

The context is wrapped once, at memorize time ("the text begins: ... "); each task then appends its own
instruction after the memory, so one memorized context serves every question. Clue output is one item a line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from memorag.types import Clue

CONTEXT_HEAD = (
    "You are given a long text. Read it carefully: afterwards you will be asked to do tasks about it.\n\n"
    "The text begins:\n"
)
CONTEXT_TAIL = "\n\nThe text ends here.\n\n"

TASKS: dict[str, str] = {
    # MemoRAG "span": evidence the answer needs, copied from the text.
    "span": (
        "Question: {question}\n\nCopy from the text, word for word, up to three short sentences that contain "
        "the information needed to answer the question. Write one sentence per line and nothing else."
    ),
    # MemoRAG "sur": surrogate questions, more specific than the user's.
    "question": (
        "Question: {question}\n\nTo find the answer in the text, which more specific questions should be "
        "asked? Write up to three short questions, one per line, naming the people, places, terms or numbers "
        "they are about."
    ),
    # MemoRAG "qa": a draft answer from memory alone.
    "answer": "Question: {question}\n\nAnswer the question using the text. Give a short answer only.",
    # MemoRAG "summarize": key points of the whole text, used as retrieval queries for summaries.
    "keypoint": (
        "List the key points of the text: up to {count} short sentences, one per line, each naming who or "
        "what it is about."
    ),
}

# MemoRAG-Lite's gist task: compress one piece of the context, keeping every fact a question could ask about.
GIST_TASK = (
    "Rewrite the following text as a short gist: keep every name, number, date, place and key fact, drop "
    "repetition and filler. Write plain sentences only.\n\nText:\n{text}"
)

# Lines of our own prompt that a small model echoes back; never useful as queries.
_BOILERPLATE = {line.strip().lower().rstrip(".:") for line in (CONTEXT_HEAD + CONTEXT_TAIL).splitlines() if line.strip()}
_PLACEHOLDER = "\x00MEMORAG-CONTEXT\x00"
_LIST_MARK = re.compile(r"^\s*(?:[-*•]+|\(?\d{1,2}[.):]|[a-zA-Z][.)]|#+|(?:question|answer|sentence|clue|key point)s?\s*\d*\s*:)\s*", re.IGNORECASE)


# Base (not instruction-tuned) models cannot follow the instructions above; they continue text. Their tasks are
# completions the text itself suggests, read up to the first line break (an extractive reader, not a clue writer).
BASE_TASKS: dict[str, str] = {
    "span": "Question: {question}\nThe sentence of the text that answers it:",
    "question": "Question: {question}\nA more specific question:",
    "answer": "Question: {question}\nAnswer:",
    "keypoint": "The text is about",
}


@dataclass(frozen=True)
class PromptFrame:
    """Text before the context and text that closes the turn, from the model's chat template (if any)."""

    prefix: str
    turn_end: str
    chat: bool = True  # False: a base model, prompted with completions (BASE_TASKS) that end at a line break

    def task_suffix(self, task: str, **fields: Any) -> str:
        if not self.chat:
            return CONTEXT_TAIL + BASE_TASKS[task].format(**fields)
        return CONTEXT_TAIL + TASKS[task].format(**fields) + self.turn_end


def prompt_frame(tokenizer: Any) -> PromptFrame:
    """Split the chat template around the context, so memory prefill and task prompts use its exact markup."""
    if not getattr(tokenizer, "chat_template", None):
        return PromptFrame(prefix=CONTEXT_HEAD, turn_end="\n\n", chat=False)  # base model: plain text
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": CONTEXT_HEAD + _PLACEHOLDER}], tokenize=False, add_generation_prompt=True
    )
    head, tail = rendered.split(_PLACEHOLDER)
    return PromptFrame(prefix=head, turn_end=tail)


def parse_clues(text: str, kind: str, question: str = "", min_chars: int = 8, limit: int = 5) -> list[Clue]:
    """One clue a line: list marks stripped; empty, too short, repeated or question-echo lines dropped."""
    seen = {question.strip().lower()}
    clues: list[Clue] = []
    for line in text.splitlines():
        cleaned = _LIST_MARK.sub("", line).strip().strip('"').strip()
        key = cleaned.lower()
        if len(cleaned) < min_chars or key in seen or key.rstrip(".:") in _BOILERPLATE:
            continue
        seen.add(key)
        clues.append(Clue(text=cleaned, kind=kind))
        if len(clues) == limit:
            break
    return clues


def chat_prompt(tokenizer: Any, user_text: str) -> str:
    """One user turn in the model's chat markup, ready for the assistant's reply (plain text for base models)."""
    if not getattr(tokenizer, "chat_template", None):
        return user_text + "\n\n"
    return str(tokenizer.apply_chat_template(
        [{"role": "user", "content": user_text}], tokenize=False, add_generation_prompt=True
    ))
