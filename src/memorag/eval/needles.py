"""Needle tasks: invented facts planted at chosen depths of a real long text, with questions about them.

A *single-hop* needle is one fact sentence ("The vault code of the Harwick archive is 4172.") and a question that
names its subject. A *multi-hop* pair is two sentences: fact A links a start entity to a bridge entity
("Velmora Analytics was founded by Ilsabet Drann."), fact B about the bridge holds the answer ("Ilsabet Drann was
born in the town of Tarsk."); the question names only the start ("In which town was the founder of Velmora
Analytics born?"). Each pair also plants *distractors*: B-type sentences of the same template about other invented
people, so that the question alone cannot tell which B sentence is the right one; only the bridge name can.
Every invented word is built from syllables and checked to occur nowhere in the haystack.

Each fact goes in at the paragraph start nearest its depth (else a line start, within 1% of the text; else the
nearest paragraph, line or sentence start). Depths: singles spread over 0.05-0.95, the A facts of pairs in
0.05-0.40 and their B facts in 0.60-0.95, distractors anywhere in 0.05-0.95. Everything is drawn from
`random.Random(seed)`: the same arguments give the same task.

A retrieved chunk *holds* a needle when its character span contains the whole fact sentence (`HOLD_SHARE` 1.0).
Facts are shorter than the retriever's chunk overlap (32 tokens), so each lies whole inside at least one chunk;
a chunk that clips a fact usually loses its subject or its answer, so clipped chunks do not count. `holds` takes
a lower `min_share` for a lenient count.
Does not handle: several documents per task (spans are offsets into the one `NeedleTask.text`).
"""

from __future__ import annotations

import bisect
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memorag.errors import MemoRAGError
from memorag.types import Chunk

HOLD_SHARE = 1.0  # share of a fact sentence's characters a chunk must contain to hold it
SINGLE_DEPTHS = (0.05, 0.95)
HOP1_DEPTHS, HOP2_DEPTHS = (0.05, 0.40), (0.60, 0.95)
BOUNDARY_SNAP = 0.01  # a paragraph (then line) start this close, as a share of the text, beats a nearer one


class HaystackTooShortError(MemoRAGError, ValueError):
    """The haystack text holds fewer tokens (or boundaries) than the needle task asks for."""


@dataclass(frozen=True)
class Template:
    """One fact family. `fact` (and `bridge_fact` for pairs) and `question` are str.format patterns."""

    name: str
    fact: str
    question: str
    answer: str  # the slot holding the gold answer
    bridge_fact: str = ""  # multi-hop only: fact B, about the bridge entity `{person}`


SINGLE_TEMPLATES = (
    Template("vault", "The vault code of the {place} archive is {number}.",
             "What is the vault code of the {place} archive?", "number"),
    Template("lighthouse", "The lighthouse on {place} Island has exactly {number} steps.",
             "How many steps does the lighthouse on {place} Island have?", "number"),
    Template("cartographer", "The chief cartographer of the {place} guild is {person}.",
             "Who is the chief cartographer of the {place} guild?", "person"),
    Template("society", "The {place} Society holds its yearly meeting in the town of {town}.",
             "In which town does the {place} Society hold its yearly meeting?", "town"),
    Template("password", "The password of the {place} observatory is {word}.",
             "What is the password of the {place} observatory?", "word"),
    Template("ferry", "The {place} river ferry carries at most {number} passengers.",
             "How many passengers does the {place} river ferry carry at most?", "number"),
)
PAIR_TEMPLATES = (
    Template("founder", "{place} Analytics was founded by {person}.",
             "In which town was the founder of {place} Analytics born?", "town",
             "{person} was born in the town of {town}."),
    Template("expedition", "The {place} expedition was led by {person}.",
             "In which city did the leader of the {place} expedition spend their last years?", "town",
             "{person} spent their last years in the city of {town}."),
    Template("bridge", "The {place} Bridge was designed by the architect {person}.",
             "What was the name of the dog of the architect who designed the {place} Bridge?", "word",
             "{person} kept a dog named {word}."),
    Template("quartet", "The {place} Quartet was formed by the violinist {person}.",
             "In which village did the violinist who formed the {place} Quartet grow up?", "town",
             "{person} grew up in the village of {town}."),
    Template("prize", "The first {place} Prize was awarded to {person}.",
             "What was the name of the sailing boat owned by the first winner of the {place} Prize?", "word",
             "{person} owned a sailing boat called the {word}."),
)

_ONSETS = ("b", "br", "d", "dr", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "st", "t", "th", "v", "z")
_VOWELS = ("a", "e", "i", "o", "u", "a", "e", "i", "o", "ae", "ei", "y")
_CODAS = ("", "", "", "n", "r", "l", "s", "th", "nd", "rk", "m", "x", "sk")
MIN_WORD_CHARS, MAX_WORD_CHARS = 4, 9


@dataclass(frozen=True)
class PlantedFact:
    """A sentence planted in `NeedleTask.text[start:end]`; `depth` is the relative depth it was asked for."""

    sentence: str
    start: int
    end: int
    depth: float
    role: str  # "single", "hop1" (fact A), "hop2" (fact B) or "distractor"
    template: str


@dataclass(frozen=True)
class NeedleQuestion:
    """A question, its gold answer and the planted fact(s) it needs (single: 1, multi: A then B)."""

    question: str
    answer: str
    kind: str  # "single" or "multi"
    needles: tuple[str, ...]  # the fact sentences
    spans: tuple[tuple[int, int], ...]  # (start, end) of each needle in NeedleTask.text
    depths: tuple[float, ...]
    template: str
    bridge: str | None = None  # multi-hop: the entity fact A names and fact B is about


@dataclass(frozen=True)
class NeedleTask:
    """A haystack with facts planted in it, and the questions about them."""

    text: str
    questions: tuple[NeedleQuestion, ...]
    distractors: tuple[PlantedFact, ...]
    source: str
    seed: int
    tokens: int  # length of `text` in tokens (counted, or estimated from characters per token)
    facts: tuple[PlantedFact, ...] = field(default=(), repr=False)  # every planted sentence, in text order


# ----- counting tokens and cutting the haystack -------------------------------------------------------------
def token_counter(tokenizer: Any = None, chars_per_token: float | None = None) -> Callable[[str], int]:
    """Tokens of a text by `tokenizer` (a Hugging Face tokenizer), else estimated from `chars_per_token`."""
    if tokenizer is not None:
        return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])
    if chars_per_token is None or chars_per_token <= 0:
        raise ValueError("give a tokenizer or a positive chars_per_token to count tokens")
    return lambda text: round(len(text) / chars_per_token)


# A sentence ends in ".", "!" or "?" (perhaps after a space, as in tokenized text, and before a closing quote or
# bracket) after a word ending in two lower-case letters or digits that is no common abbreviation ("St. Patrick",
# "e.g. Foo", "Mrs. Dalloway" do not end one), and the next starts upper-case.
_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")  # the end of a match is where a paragraph starts
_LINE = re.compile(r"\n(?=\S)")
_SENTENCE = re.compile(r"(\w+) ?[.!?][\"')\]]?([ \t]+)(?=[A-Z])")
ABBREVIATIONS = frozenset({"mrs", "gen", "col", "sgt", "rev", "prof", "fig", "inc", "ltd", "vol", "no", "vs", "pp"})
SEPARATORS = {"paragraph": "\n\n", "line": "\n", "sentence": " "}  # written after a fact planted there


def _sentence_ends(text: str, start: int = 0, end: int | None = None) -> list[re.Match[str]]:
    matches = _SENTENCE.finditer(text, start, len(text) if end is None else end)
    return [m for m in matches if re.fullmatch(r".*[a-z0-9]{2}", m[1]) and m[1].casefold() not in ABBREVIATIONS]


def boundaries(text: str) -> dict[str, list[int]]:
    """Sorted start positions of paragraphs, lines (that are not paragraph starts) and sentences in `text`."""
    paragraphs = [m.end() for m in _PARAGRAPH.finditer(text) if m.end() < len(text)]
    lines = sorted({m.end() for m in _LINE.finditer(text)} - set(paragraphs))
    return {"paragraph": paragraphs, "line": lines, "sentence": [m.end() for m in _sentence_ends(text)]}


def _snap_back(text: str, end: int) -> int:
    """The last paragraph or sentence end at or before `end` (within 2,000 characters), else a word end."""
    floor = max(0, end - 2000)
    cut = text.rfind("\n\n", floor, end)
    if cut > 0:
        return cut
    sentence = _sentence_ends(text, floor, end)
    if sentence:
        return sentence[-1].start(2)  # just after the sentence's final punctuation
    space = text.rfind(" ", floor, end)
    return space if space > 0 else end


def cut_haystack(text: str, tokens: int, tokenizer: Any = None, chars_per_token: float | None = None) -> str:
    """The longest prefix of `text` of at most `tokens` tokens that ends at a paragraph or sentence end.

    Counts with `tokenizer`, else estimates with `chars_per_token`. HaystackTooShortError when the text is
    shorter than `tokens`.
    """
    count = token_counter(tokenizer, chars_per_token)
    prefix = text[: tokens * 12]  # no tokenizer averages 12 characters a token on natural text
    available = count(prefix)
    if available < tokens:
        raise HaystackTooShortError(
            f"the haystack holds about {available} tokens, fewer than the {tokens} asked for: give a longer "
            "source (several sources can be concatenated) or ask for fewer tokens"
        )
    end = _snap_back(text, int(len(prefix) * tokens / available))
    for _ in range(6):  # the ratio varies along the text: correct a few times
        have = count(text[:end])
        if 0.98 * tokens <= have <= tokens:
            break
        end = _snap_back(text, int(end * min(tokens / max(have, 1), 1.5)))
    while count(text[:end]) > tokens and end > 0:
        end = _snap_back(text, int(end * 0.995))
    return text[:end].rstrip()


# ----- inventing names that occur nowhere in the haystack ---------------------------------------------------
class _Inventor:
    """Made-up words from syllables, unique, absent from the haystack and no one a substring of another."""

    def __init__(self, rng: random.Random, haystack: str) -> None:
        self.rng, self.haystack, self.used = rng, haystack.casefold(), set[str]()

    def _fresh(self, make: Callable[[], str]) -> str:
        for _ in range(10_000):
            word = make()
            key = word.casefold()
            if key in self.haystack or any(key in used or used in key for used in self.used):
                continue
            self.used.add(key)
            return word
        raise RuntimeError("could not invent a fresh name: the haystack contains too many of them")

    def _syllables(self, low: int, high: int) -> str:
        while True:
            count = self.rng.randint(low, high)
            parts = [self.rng.choice(_ONSETS) + self.rng.choice(_VOWELS) + self.rng.choice(_CODAS)
                     for _ in range(count)]
            if MIN_WORD_CHARS <= len(word := "".join(parts)) <= MAX_WORD_CHARS:
                return word.capitalize()

    def word(self, low: int = 2, high: int = 3) -> str:
        return self._fresh(lambda: self._syllables(low, high))

    def person(self) -> str:
        return self._fresh(lambda: f"{self._syllables(2, 3)} {self._syllables(2, 2)}")

    def number(self) -> str:
        return self._fresh(lambda: str(self.rng.randint(1000, 9999)))

    def slots(self) -> dict[str, str]:
        return {"place": self.word(), "person": self.person(), "town": self.word(1, 2), "word": self.word(),
                "number": self.number()}


# ----- drafting facts and questions --------------------------------------------------------------------------
@dataclass
class _Draft:
    sentence: str
    depth: float
    role: str
    template: str
    question: int | None = None  # index of the question this fact belongs to


def _stratified(rng: random.Random, count: int, low: float, high: float) -> list[float]:
    """`count` depths, one uniformly inside each of `count` equal strata of [low, high], shuffled."""
    depths = [low + (high - low) * (i + rng.random()) / count for i in range(count)]
    rng.shuffle(depths)
    return depths


def _draft(rng: random.Random, names: _Inventor, singles: int, pairs: int, distractors_per_pair: int
           ) -> tuple[list[_Draft], list[dict[str, Any]]]:
    drafts: list[_Draft] = []
    questions: list[dict[str, Any]] = []
    single_templates = rng.sample(SINGLE_TEMPLATES * (singles // len(SINGLE_TEMPLATES) + 1), singles)
    for template, depth in zip(single_templates, _stratified(rng, singles, *SINGLE_DEPTHS)):
        slots = names.slots()
        drafts.append(_Draft(template.fact.format(**slots), depth, "single", template.name, len(questions)))
        questions.append({"question": template.question.format(**slots), "answer": slots[template.answer],
                          "kind": "single", "template": template.name, "bridge": None})
    pair_templates = rng.sample(PAIR_TEMPLATES * (pairs // len(PAIR_TEMPLATES) + 1), pairs)
    hop1 = _stratified(rng, pairs, *HOP1_DEPTHS)
    hop2 = _stratified(rng, pairs, *HOP2_DEPTHS)
    for template, depth_a, depth_b in zip(pair_templates, hop1, hop2):
        slots = names.slots()
        drafts.append(_Draft(template.fact.format(**slots), depth_a, "hop1", template.name, len(questions)))
        drafts.append(_Draft(template.bridge_fact.format(**slots), depth_b, "hop2", template.name, len(questions)))
        questions.append({"question": template.question.format(**slots), "answer": slots[template.answer],
                          "kind": "multi", "template": template.name, "bridge": slots["person"]})
        for _ in range(distractors_per_pair):  # same B template, other people, other answers
            other = names.slots()
            drafts.append(_Draft(template.bridge_fact.format(**other), rng.uniform(*SINGLE_DEPTHS), "distractor",
                                 template.name))
    return drafts, questions


# ----- planting ----------------------------------------------------------------------------------------------
def _nearest_free(positions: list[int], target: int, used: set[int]) -> int | None:
    """The position in sorted `positions` nearest `target` that is not in `used`."""
    right = bisect.bisect_left(positions, target)
    left = right - 1
    while left >= 0 or right < len(positions):
        left_gap = target - positions[left] if left >= 0 else None
        right_gap = positions[right] - target if right < len(positions) else None
        if right_gap is None or (left_gap is not None and left_gap <= right_gap):
            if positions[left] not in used:
                return positions[left]
            left -= 1
        else:
            if positions[right] not in used:
                return positions[right]
            right += 1
    return None


def _boundaries(haystack: str, drafts: list[_Draft]) -> list[tuple[int, str]]:
    """For each draft, (position in the haystack, separator written after the fact): the nearest free paragraph
    start within BOUNDARY_SNAP of its depth, else such a line start, else the nearest boundary of any kind."""
    starts = boundaries(haystack)
    used: set[int] = set()
    chosen = []
    for draft in drafts:
        target = int(draft.depth * len(haystack))
        nearest = {kind: _nearest_free(positions, target, used) for kind, positions in starts.items()}
        found = [(kind, place) for kind, place in nearest.items() if place is not None]
        if not found:
            raise HaystackTooShortError(
                f"the haystack has too few paragraph, line or sentence starts for {len(drafts)} facts: use a "
                "longer text"
            )
        snapped = [(k, p) for k, p in found if k != "sentence" and abs(p - target) <= BOUNDARY_SNAP * len(haystack)]
        kind, place = snapped[0] if snapped else min(found, key=lambda item: abs(item[1] - target))
        used.add(place)
        chosen.append((place, SEPARATORS[kind]))
    return chosen


def _plant(haystack: str, drafts: list[_Draft]) -> tuple[str, list[PlantedFact]]:
    """Insert every draft at its boundary; returns the text and the facts with their spans in it."""
    placed = sorted(zip(_boundaries(haystack, drafts), range(len(drafts))), key=lambda item: item[0][0])
    parts: list[str] = []
    spans: dict[int, tuple[int, int]] = {}
    previous, length = 0, 0
    for (position, separator), index in placed:
        parts.append(haystack[previous:position])
        length += position - previous
        spans[index] = (length, length + len(drafts[index].sentence))
        parts += [drafts[index].sentence, separator]
        length += len(drafts[index].sentence) + len(separator)
        previous = position
    parts.append(haystack[previous:])
    facts = [PlantedFact(d.sentence, *spans[i], d.depth, d.role, d.template) for i, d in enumerate(drafts)]
    return "".join(parts), facts


def build_task(
    haystack: str, tokens: int, singles: int = 6, pairs: int = 6, seed: int = 0, tokenizer: Any = None,
    chars_per_token: float | None = None, distractors_per_pair: int = 3, source: str = "text",
) -> NeedleTask:
    """Cut `haystack` so that, with the facts planted, the task is about `tokens` tokens long, and plant
    `singles` single-hop needles and `pairs` multi-hop pairs (each with `distractors_per_pair` look-alikes)."""
    if singles < 0 or pairs < 0 or distractors_per_pair < 0 or singles + pairs == 0:
        raise ValueError("ask for at least one needle, and no negative counts")
    rng = random.Random(seed)
    drafts, questions = _draft(rng, _Inventor(rng, haystack), singles, pairs, distractors_per_pair)
    count = token_counter(tokenizer, chars_per_token)
    needle_tokens = count(" ".join(draft.sentence for draft in drafts))
    if needle_tokens > tokens // 2:
        raise HaystackTooShortError(
            f"{len(drafts)} facts take about {needle_tokens} tokens, more than half of the {tokens} asked for: "
            "ask for more tokens or fewer needles"
        )
    try:
        haystack = cut_haystack(haystack, tokens - needle_tokens, tokenizer, chars_per_token)
    except HaystackTooShortError as exc:
        raise HaystackTooShortError(f"{source}: {exc} (a {tokens}-token task less {needle_tokens} tokens of "
                                    "needles)") from exc
    text, facts = _plant(haystack, drafts)
    return NeedleTask(
        text=text, questions=tuple(_question(q, i, drafts, facts) for i, q in enumerate(questions)),
        distractors=tuple(f for f in facts if f.role == "distractor"), source=source, seed=seed,
        tokens=count(text), facts=tuple(sorted(facts, key=lambda fact: fact.start)),
    )


def _question(fields: dict[str, Any], index: int, drafts: list[_Draft], facts: list[PlantedFact]) -> NeedleQuestion:
    mine = [fact for draft, fact in zip(drafts, facts) if draft.question == index]  # hop1 before hop2
    return NeedleQuestion(
        needles=tuple(f.sentence for f in mine), spans=tuple((f.start, f.end) for f in mine),
        depths=tuple(f.depth for f in mine), **fields,
    )


# ----- which chunks hold which needle ------------------------------------------------------------------------
def holds(chunk: Chunk, span: tuple[int, int], min_share: float = HOLD_SHARE) -> bool:
    """Whether `chunk` (of the task's one document) contains at least `min_share` of the span's characters."""
    start, end = span
    overlap = min(chunk.end, end) - max(chunk.start, start)
    return overlap > 0 and overlap >= min_share * (end - start)


def needle_chunks(question: NeedleQuestion, chunks: Sequence[Chunk], min_share: float = HOLD_SHARE
                  ) -> list[set[int]]:
    """For each needle of `question`, the ids of the chunks that hold it."""
    return [{c.chunk_id for c in chunks if holds(c, span, min_share)} for span in question.spans]


def needles_found(holding: Sequence[set[int]], evidence_ids: set[int] | Sequence[int]) -> tuple[bool, float]:
    """(all needles in the evidence, share of needles in it), from `needle_chunks` and retrieved chunk ids."""
    found = [bool(ids & set(evidence_ids)) for ids in holding]
    return all(found), sum(found) / len(found)


# ----- haystack sources --------------------------------------------------------------------------------------
def pydoc_reference() -> str:
    """The whole Python Language Reference that ships with CPython (`pydoc_data.topics`), topics in name order."""
    from pydoc_data.topics import topics

    from memorag.demo import reference_slice

    return reference_slice(max_chars=10**9, first_topic=min(topics))


def longbench_contexts(path: Path) -> str:
    """The distinct `context` fields of a LongBench-format JSONL file, in file order, joined by blank lines."""
    from memorag.eval.datasets import read_longbench_jsonl

    contexts = dict.fromkeys(example.context.strip() for example in read_longbench_jsonl(Path(path)))
    return "\n\n".join(context for context in contexts if context)


def haystack_text(source: str | Path) -> tuple[str, str]:
    """(name, text) of a haystack: "pydoc", a LongBench-format `.jsonl` file, or any UTF-8 text file."""
    if str(source) == "pydoc":
        return "pydoc", pydoc_reference()
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"haystack {source!r} is neither 'pydoc' nor a file")
    if path.suffix == ".jsonl":
        return path.stem, longbench_contexts(path)
    return path.name, path.read_text(encoding="utf-8")


__all__ = [
    "HOLD_SHARE",
    "PAIR_TEMPLATES",
    "SINGLE_TEMPLATES",
    "HaystackTooShortError",
    "NeedleQuestion",
    "NeedleTask",
    "PlantedFact",
    "Template",
    "boundaries",
    "build_task",
    "cut_haystack",
    "haystack_text",
    "holds",
    "needle_chunks",
    "needles_found",
    "token_counter",
]
