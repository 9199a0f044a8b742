"""Training data: QA examples in, a fixed train/held-out split, SFT targets, and the files build-data writes.

A data directory (written by `memorag train build-data`, see build.py) holds:
  build.json         format "memorag-train-data v1": source file and hash, the split (seed, ids), all settings
  held_out_ids.txt   the held-out ids, comma-separated, for `memorag eval --ids`
  contexts.jsonl     {"id", "context"}: the text each training example memorizes
  sft.jsonl          {"id", "task", "question", "target", "source"}: gold targets (answer sentences, evidence,
                     the gold answer)
  preferences.jsonl  {"id", "task", "question", "answers", "candidates": [...], "chosen", "rejected", ...}: sampled
                     clue sets scored by the answer they lead to; chosen/rejected index candidates (null on a tie)
Input files are LongBench-format JSON lines (`input`, `context`, `answers`, `_id`) or the user's own lines with
`context`, `question`, `answers` (and optionally `id`, `evidence`: a list of gold evidence strings).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from memorag.errors import MemoRAGError
from memorag.eval.datasets import DatasetFormatError, EvalExample, read_longbench_jsonl
from memorag.memory.prompts import PromptFrame
from memorag.training.memory_forward import MemoryExample
from memorag.training.rlgf import PreferencePair

DATA_FORMAT = "memorag-train-data v1"
BUILD_FILE = "build.json"
HELD_OUT_FILE = "held_out_ids.txt"
CONTEXTS_FILE = "contexts.jsonl"
SFT_FILE = "sft.jsonl"
PREFERENCES_FILE = "preferences.jsonl"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"\w+")
_FUNCTION_WORDS = frozenset(
    (
        "a", "an", "the", "of", "in", "on", "at", "to", "for", "from", "by", "with", "as", "and", "or", "but",
        "is", "are", "was", "were", "be", "been", "it", "its", "this", "that", "these", "those", "which",
        "who", "whom", "whose", "what", "when", "where", "how", "why", "he", "she", "they", "his", "her",
        "their", "there", "also", "not", "did", "does", "do"
    )
)


class TrainingDataError(MemoRAGError, ValueError):
    """A training data directory is missing, incomplete, or was built with other settings."""


# ----- input examples -----------------------------------------------------------------------------------------
def read_qa_examples(path: Path, limit: int | None = None, seed: int = 0) -> list[EvalExample]:
    """LongBench-format rows (they have `_id` and `input`) or user rows with `context`, `question`, `answers`."""
    path = Path(path)
    first = next((line for line in path.read_text(encoding="utf-8").split("\n") if line.strip()), "")
    try:
        row = json.loads(first) if first else {}
    except json.JSONDecodeError as exc:
        raise DatasetFormatError(f"{path}:1: not valid JSON ({exc.msg})") from exc
    if "_id" in row and "input" in row:
        return read_longbench_jsonl(path, limit, seed=seed)
    examples = [_user_example(row, n, path) for n, row in _rows(path)]
    if limit is not None and limit < len(examples):
        import random

        keep = sorted(random.Random(seed).sample(range(len(examples)), limit))
        examples = [examples[i] for i in keep]
    return examples


def _rows(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    for n, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if line.strip():
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetFormatError(f"{path}:{n}: not valid JSON ({exc.msg})") from exc


def _user_example(row: Any, line: int, path: Path) -> EvalExample:
    where = f"{path}:{line}"
    if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in ("context", "question")):
        raise DatasetFormatError(f"{where}: needs string fields 'context' and 'question', and 'answers'")
    answers = [row["answers"]] if isinstance(row.get("answers"), str) else row.get("answers")
    if not isinstance(answers, list) or not answers or not all(isinstance(a, str) for a in answers):
        raise DatasetFormatError(f"{where}: 'answers' must be a string or a non-empty list of strings")
    extra = {k: v for k, v in row.items() if k not in ("id", "context", "question", "answers")}
    return EvalExample(id=str(row.get("id", f"row{line}")), question=row["question"], context=row["context"],
                       answers=tuple(answers), task=path.stem, length=len(row["context"].split()), extra=extra)


def split_ids(
    ids: Sequence[str], held_out: float, seed: int, groups: Sequence[str] | None = None
) -> tuple[list[str], list[str]]:
    """(train, held-out) ids, each in input order. `groups[i]` (e.g. the context) keeps ids that share it on one
    side, so no held-out question reads a document that training read. Each group is named by its first id; the
    groups are sorted by sha256(seed:name) and the first round(n_groups * held_out) held out. With no shared
    groups this is the split by id alone (the same ids as before groups existed)."""
    if not 0 <= held_out < 1:
        raise ValueError(f"the held-out fraction must be in [0, 1), not {held_out}")
    if len(set(ids)) != len(ids):
        raise TrainingDataError("example ids repeat: the split needs unique ids")
    if groups is not None and len(groups) != len(ids):
        raise ValueError(f"{len(groups)} groups for {len(ids)} ids")
    keys = list(ids) if groups is None else list(groups)
    name: dict[str, str] = {}
    for example_id, key in zip(ids, keys):
        name.setdefault(key, example_id)
    ranked = sorted(name.values(), key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())
    held_names = set(ranked[: round(len(ranked) * held_out)])
    held = {example_id for example_id, key in zip(ids, keys) if name[key] in held_names}
    return [i for i in ids if i not in held], [i for i in ids if i in held]


def split_examples(examples: Sequence[EvalExample], held_out: float, seed: int) -> tuple[list[str], list[str]]:
    """(train, held-out) ids of QA examples; questions about the same context stay on one side."""
    return split_ids([e.id for e in examples], held_out, seed, [e.context for e in examples])


# ----- SFT targets --------------------------------------------------------------------------------------------
def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def answer_sentences(context: str, answers: Sequence[str], question: str, limit: int = 2, max_chars: int = 400
                     ) -> list[str]:
    """Sentences of the context that hold a gold answer, best first: most words shared with the question, then
    shortest. Repeated sentences (contexts repeat passages) count once; over-long ones are skipped."""
    golds = [" ".join(a.casefold().split()) for a in answers if a.strip()]
    asked = set(_WORD.findall(question.casefold()))
    found = {s: None for s in sentences(context)
             if len(s) <= max_chars and any(g in " ".join(s.casefold().split()) for g in golds)}
    ranked = sorted(found, key=lambda s: (-len(asked & set(_WORD.findall(s.casefold()))), len(s)))
    return ranked[:limit]


def bridge_sentence(context: str, answers: Sequence[str], question: str, max_chars: int = 400) -> str | None:
    """The sentence that links a multi-hop question to its answer, found without titles or labels: it holds no
    gold answer, shares a content word with the question and shares another one, not in the question, with an
    answer-bearing sentence (the bridge entity: "hannibal and scipio ... written by thomas nabbes" between "the
    author of Hannibal and Scipio" and "thomas nabbes ... educated at exeter college"). Best: most question
    words, then most bridge words, then shortest; None when no sentence qualifies."""
    golds = [" ".join(a.casefold().split()) for a in answers if a.strip()]
    asked = set(_WORD.findall(question.casefold())) - _FUNCTION_WORDS
    answering = answer_sentences(context, answers, question, limit=3, max_chars=max_chars)
    answer_words = set().union(*(set(_WORD.findall(s.casefold())) for s in answering)) - asked - _FUNCTION_WORDS
    best: tuple[int, int, int] | None = None
    chosen = None
    for sentence in dict.fromkeys(sentences(context)):
        folded = " ".join(sentence.casefold().split())
        if len(sentence) > max_chars or any(g in folded for g in golds):
            continue
        words = set(_WORD.findall(folded))
        shared, bridge = len(words & asked), len(words & answer_words)
        if shared and bridge and (best is None or (-shared, -bridge, len(sentence)) < best):
            best, chosen = (-shared, -bridge, len(sentence)), sentence
    return chosen


def sft_targets(example: EvalExample, limit: int = 2) -> list[dict[str, Any]]:
    """Gold targets of one example: evidence strings (where given) or the answer-bearing sentences as "span"
    targets, one per line, the bridge sentence (bridge_sentence, multi-hop rows) as a "span" target of its own,
    and the first gold answer as the "answer" target."""
    evidence = example.extra.get("evidence")
    spans = [e.strip() for e in evidence if isinstance(e, str) and e.strip()][:limit] if isinstance(
        evidence, list) else []
    source = "evidence" if spans else "answer-sentence"
    spans = spans or answer_sentences(example.context, example.answers, example.question, limit)
    rows = [{"task": "span", "target": "\n".join(spans), "source": source}] if spans else []
    bridge = None if source == "evidence" or not spans else bridge_sentence(
        example.context, example.answers, example.question)
    if bridge:
        rows.append({"task": "span", "target": bridge, "source": "bridge-sentence"})
    rows.append({"task": "answer", "target": example.answers[0].strip(), "source": "gold-answer"})
    return [{"id": example.id, "question": example.question, **row} for row in rows]


# ----- files ---------------------------------------------------------------------------------------------------
def append_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Append rows in one write, flushed: an interrupted run loses at most a partial last line."""
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    with Path(path).open("a", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSON-lines file; a damaged last line (an interrupted write) is dropped, others raise."""
    if not Path(path).is_file():
        return []
    lines = [line for line in Path(path).read_text(encoding="utf-8").split("\n") if line.strip()]
    rows = []
    for n, line in enumerate(lines):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if n < len(lines) - 1:
                raise TrainingDataError(f"{path}: line {n + 1} is not JSON ({exc.msg}); build the data again") from exc
    return rows


def keep_only(path: Path, ids: set[str]) -> None:
    """Rewrite a JSON-lines file with only the rows of `ids` (drops the partial work of an interrupted example)."""
    rows = read_jsonl(path)
    if Path(path).is_file():
        Path(path).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows if r["id"] in ids),
                              encoding="utf-8")


def read_build(directory: Path) -> dict[str, Any]:
    path = Path(directory) / BUILD_FILE
    if not path.is_file():
        raise TrainingDataError(f"{directory}: no {BUILD_FILE}; make the data with `memorag train build-data`")
    build = json.loads(path.read_text(encoding="utf-8"))
    if build.get("format") != DATA_FORMAT:
        raise TrainingDataError(f"{path}: format {build.get('format')!r} is not {DATA_FORMAT!r}")
    return dict(build)


def read_contexts(directory: Path) -> dict[str, str]:
    return {row["id"]: row["context"] for row in read_jsonl(Path(directory) / CONTEXTS_FILE)}


def data_hash(directory: Path) -> str:
    """SHA-256 over the training files, as an adapter's manifest records it."""
    digest = hashlib.sha256()
    for name in (BUILD_FILE, CONTEXTS_FILE, SFT_FILE, PREFERENCES_FILE):
        path = Path(directory) / name
        digest.update(name.encode() + (path.read_bytes() if path.is_file() else b""))
    return "sha256:" + digest.hexdigest()


# ----- examples for the trainers -------------------------------------------------------------------------------
def sft_examples(directory: Path, frame: PromptFrame, tasks: Sequence[str] = ("span", "answer"),
                 chosen_min_f1: float | None = None) -> list[MemoryExample]:
    """SFT examples of a data directory: gold targets of `tasks`, plus (with `chosen_min_f1`) every chosen
    candidate whose answer reached that F1 (rejection-sampling fine-tuning)."""
    examples = [MemoryExample(row["id"], frame.task_suffix(row["task"], question=row["question"]), row["target"])
                for row in read_jsonl(Path(directory) / SFT_FILE) if row["task"] in tasks]
    if chosen_min_f1 is not None:
        for row in read_jsonl(Path(directory) / PREFERENCES_FILE):
            best = row["candidates"][row["chosen"]] if row.get("chosen") is not None else None
            if row.get("task") in tasks and best and best["f1"] >= chosen_min_f1 and best["text"].strip():
                examples.append(MemoryExample(row["id"], frame.task_suffix(row["task"], question=row["question"]),
                                              best["text"]))
    return examples


RANKINGS = {
    "f1": lambda c: (c["f1"], c["answer_in_evidence"]),  # answer quality first (MemoRAG's generation feedback)
    "evidence": lambda c: (c["answer_in_evidence"], c["f1"]),  # retrieval first: did the clues find the answer?
}


def rank_pair(candidates: Sequence[dict[str, Any]], rank_by: str = "f1") -> tuple[int | None, int | None]:
    """(chosen, rejected) candidate indices, best and worst by `rank_by`; (None, None) when all rank alike."""
    key = RANKINGS[rank_by]
    keys = [key(c) for c in candidates]
    best = max(range(len(keys)), key=lambda i: keys[i])
    worst = min(range(len(keys)), key=lambda i: keys[i])
    return (best, worst) if keys[best] != keys[worst] else (None, None)


def preference_pairs(directory: Path, frame: PromptFrame, tasks: Sequence[str] = ("span", "question", "answer"),
                     rank_by: str = "f1") -> list[PreferencePair]:
    """One (chosen, rejected) pair per record whose candidates do not all rank alike under `rank_by`."""
    if rank_by not in RANKINGS:
        raise ValueError(f"rank_by must be one of {sorted(RANKINGS)}, not {rank_by!r}")
    pairs = []
    for row in read_jsonl(Path(directory) / PREFERENCES_FILE):
        if row.get("task") not in tasks:
            continue
        chosen, rejected = rank_pair(row["candidates"], rank_by)
        if chosen is not None and rejected is not None:
            candidates = row["candidates"]
            pairs.append(PreferencePair(row["id"], frame.task_suffix(row["task"], question=row["question"]),
                                        candidates[chosen]["text"], candidates[rejected]["text"]))
    return pairs
