"""Self-supervised span recall: SFT data from any long text, no labels and no model (issue 7).

A sentence of the text becomes a target; a question about it is written from templates over the sentence's
own names and numbers: one of them (the *answer*) is hidden, the other words cue the sentence.
  cloze     "Fill in the blank from the text: Ernst Lubitsch was born in ___ in 1892."
  question  "In the text, which year goes with Ernst Lubitsch, born, Berlin?"
The memory model, reading the text through its memory as at inference, learns to write the sentence (the
`span` task, as copy and generate recall use it). The hidden answer never appears in the question; the target is
a sentence of the context, verbatim.

Contexts: each input text cut into pieces of about `context_chars` characters at sentence ends (a book is too
long for one training step to memorize), or the contexts of the *train* side of a QA file (the split of
`memorag train build-data`: same file, --limit, --held-out and --seed give the same sides), so held-out rows
never reach training. The output directory has the files of build-data (data.py) without preferences, so
`memorag train sft --data DIR --tasks span` trains on it unchanged.
Does not: write questions with a model, or train the attention strategy's pointer (a contrastive chunk loss).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from memorag.config import MemoryConfig, config_to_dict
from memorag.durable import fsync_dir, sync_tree
from memorag.training import data
from memorag.training.adapters import file_sha256

SELFSUP_SOURCE = "self-supervised"
_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?![\w])")
_YEAR = re.compile(r"^(1[0-9]{3}|20[0-9]{2})$")
_TOKEN = re.compile(r"[^\W_][\w'’-]*")  # words and numbers, in any script
NAME_JOINERS = frozenset({"of", "de", "la", "von", "van", "der", "du", "del", "the", "and"})
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "for", "from", "had", "has", "have", "he",
    "her", "his", "in", "is", "it", "its", "of", "on", "or", "she", "that", "the", "their", "them", "they", "this",
    "to", "was", "were", "which", "who", "with", "not", "also", "after", "before", "into", "than", "then", "there",
    "these", "those", "what", "when", "where", "while", "will", "would", "can", "could", "may", "might", "our",
    "we", "you", "your", "i", "him", "one", "two",
})


@dataclass(frozen=True)
class SelfSupSettings:
    """per_context: targets per context; context_chars: size of the pieces a long text is cut into;
    min_words/max_words: the sentence lengths that can be targets; cue_words: content words a question keeps."""

    per_context: int = 4
    context_chars: int = 12_000
    min_words: int = 6
    max_words: int = 60
    cue_words: int = 6
    seed: int = 0


def answer_candidates(sentence: str) -> list[tuple[str, str]]:
    """(text, type) of what a question can hide: numbers ("year" or "number") and names ("name")."""
    found = [(m.group(), "year" if _YEAR.match(m.group()) else "number") for m in _NUMBER.finditer(sentence)]
    found += [(name, "name") for name in names(sentence)]
    return [(text, kind) for text, kind in found if text.strip(",.")]


def names(sentence: str) -> list[str]:
    """Runs of capitalized words (upper case in any script that has case), joined by words such as "of";
    the sentence's first word does not start a name. Scripts without case (Chinese, Japanese) give none."""
    tokens = list(_TOKEN.finditer(sentence))
    found: list[str] = []
    run: list[re.Match[str]] = []
    for n, match in enumerate(tokens):
        word = match.group()
        capital = n > 0 and word[0].isupper()
        joins = bool(run) and word in NAME_JOINERS and n + 1 < len(tokens) and tokens[n + 1].group()[0].isupper()
        if capital or joins:
            run.append(match)
            continue
        if run:
            found.append(sentence[run[0].start(): run[-1].end()])
        run = []
    if run:
        found.append(sentence[run[0].start(): run[-1].end()])
    return found


def cue(sentence: str, hidden: str, count: int) -> list[str]:
    """Up to `count` content words of the sentence, in order, none from the hidden answer, none repeated."""
    hidden_words = {w.casefold() for w in _WORD.findall(hidden)}
    words: list[str] = []
    for word in _WORD.findall(sentence.replace(hidden, " ")):
        folded = word.casefold()
        if folded in STOPWORDS or folded in hidden_words or len(word) < 3 or folded in map(str.casefold, words):
            continue
        words.append(word)
    return words[:count]


QUESTION_TEMPLATES = {
    "year": "In the text, which year goes with {cue}?",
    "number": "In the text, what number goes with {cue}?",
    "name": "In the text, which name goes with {cue}?",
}
CLOZE_TEMPLATE = "Fill in the blank from the text: {blanked}"
BLANK = "___"


def make_question(sentence: str, hidden: str, kind: str, style: str, cue_words: int = 6) -> str | None:
    """A question about `sentence` that hides `hidden`: a cloze or a templated wh-question; None when the
    sentence leaves too few cue words (the question would not point at it)."""
    if style == "cloze":
        blanked = sentence.replace(hidden, BLANK, 1)
        return CLOZE_TEMPLATE.format(blanked=blanked) if blanked != sentence else None
    words = cue(sentence, hidden, cue_words)
    if len(words) < 2:
        return None
    return QUESTION_TEMPLATES[kind].format(cue=", ".join(words))


def targets_for_context(context_id: str, context: str, settings: SelfSupSettings) -> list[dict[str, Any]]:
    """Up to `per_context` SFT rows {id, task "span", question, target, source, hidden} for one context, seeded
    by (seed, id); questions alternate between cloze and wh-question. Sentences that repeat are not targets."""
    counts: dict[str, int] = {}
    for sentence in data.sentences(context):
        counts[sentence] = counts.get(sentence, 0) + 1
    eligible = [s for s, n in counts.items() if n == 1 and settings.min_words <= len(s.split()) <= settings.max_words
                and answer_candidates(s)]
    rng = random.Random(f"{settings.seed}:{context_id}")
    rng.shuffle(eligible)
    rows: list[dict[str, Any]] = []
    for sentence in eligible:
        if len(rows) >= settings.per_context:
            break
        hidden, kind = rng.choice(answer_candidates(sentence))
        style = "cloze" if len(rows) % 2 == 0 else "question"
        question = make_question(sentence, hidden, kind, style, settings.cue_words)
        if question is None or hidden.casefold() in question.casefold().replace(BLANK, ""):
            continue
        rows.append({"id": context_id, "task": "span", "question": question, "target": sentence,
                     "source": f"{SELFSUP_SOURCE}:{style}", "hidden": hidden})
    return rows


def split_text(text: str, context_chars: int) -> list[str]:
    """Pieces of about `context_chars` characters, cut after a sentence end (or a line break) where there is one."""
    pieces, start = [], 0
    while start < len(text):
        end = min(len(text), start + context_chars)
        if end < len(text):
            cut = max(text.rfind(". ", start, end), text.rfind("\n", start, end))
            end = cut + 1 if cut > start + context_chars // 2 else end
        piece = text[start:end].strip()
        if piece:
            pieces.append(piece)
        start = end
    return pieces


def contexts_from_texts(paths: Sequence[Path], context_chars: int) -> list[tuple[str, str]]:
    """(id, context) pieces of the user's text files (folders read in sorted order), ids `<file stem>-<n>`."""
    from memorag.inputs import to_documents

    contexts = []
    for document in to_documents(list(paths)):
        stem = Path(document.source).stem or "text"
        contexts += [(f"{stem}-{n}", piece) for n, piece in enumerate(split_text(document.text, context_chars))]
    return contexts


def contexts_from_qa(path: Path, limit: int | None, held_out: float, seed: int, context_chars: int
                     ) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """The train side's contexts of a QA file (the questions and answers are not used), and the split."""
    examples = data.read_qa_examples(path, limit, seed)
    train, held = data.split_examples(examples, held_out, seed)
    keep = set(train)
    contexts = [(f"{e.id}-{n}", piece) for e in examples if e.id in keep
                for n, piece in enumerate(split_text(e.context, context_chars))]
    return contexts, {"seed": seed, "held_out_fraction": held_out, "train": train, "held_out": held}


def build_selfsup(out: Path, contexts: Sequence[tuple[str, str]], sources: Sequence[Path], split: dict[str, Any],
                  settings: SelfSupSettings, memory: MemoryConfig) -> dict[str, Any]:
    """Write build.json, contexts.jsonl and sft.jsonl into `out` (a new directory, or one this command wrote with
    the same input and settings, which is rewritten); returns counts."""
    out = Path(out)
    info = {
        "format": data.DATA_FORMAT,
        "source": {"files": [{"file": str(p), "sha256": _sha256_of(p)} for p in sources], "examples": len(contexts),
                   "kind": SELFSUP_SOURCE},
        "split": split,
        "settings": {"selfsup": asdict(settings), "memory": config_to_dict(memory)},
    }
    build_path = out / data.BUILD_FILE
    if build_path.is_file():
        if data.read_build(out) != json.loads(json.dumps(info)):
            raise data.TrainingDataError(f"{out} holds data built from other input or settings (see {build_path}): "
                                         "use another --out")
    elif out.exists() and any(out.iterdir()):
        raise data.TrainingDataError(f"{out} exists and is not a training data directory: use a new --out")
    rows = [row for context_id, text in contexts for row in targets_for_context(context_id, text, settings)]
    if not rows:
        raise data.TrainingDataError("no sentence in the input can be a target: it needs sentences of "
                                     f"{settings.min_words}-{settings.max_words} words holding a name or a number")
    used = {row["id"] for row in rows}
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")  # hidden and ours alone: never a user's folder
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / data.BUILD_FILE).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    for name, lines in ((data.CONTEXTS_FILE, [{"id": i, "context": t} for i, t in contexts if i in used]),
                        (data.SFT_FILE, rows)):
        (tmp / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")
    (tmp / data.HELD_OUT_FILE).write_text(",".join(split.get("held_out", [])) + "\n", encoding="utf-8")
    sync_tree(tmp)
    if out.exists():
        shutil.rmtree(out)  # an empty folder, or this command's own earlier output (checked above)
    tmp.rename(out)
    fsync_dir(out.parent)
    return {"out": str(out), "contexts": len(used), "sft_targets": len(rows),
            "cloze": sum(r["source"].endswith("cloze") for r in rows)}


def _sha256_of(path: Path) -> str:
    """A file's SHA-256, or for a folder one over its files' relative paths and hashes."""
    if Path(path).is_dir():
        digest = hashlib.sha256()
        for item in sorted(p for p in Path(path).rglob("*") if p.is_file()):
            digest.update(str(item.relative_to(path)).encode() + bytes.fromhex(file_sha256(item)))
        return digest.hexdigest()
    return file_sha256(path)
