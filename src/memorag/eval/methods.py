"""The methods the harness compares, as MemoRAG's experiments do: full context, standard RAG, HyDE and MemoRAG.

A method spec names a method and, for `memorag`, memory settings that override the run's `MemoryConfig`:
`memorag:kind=gist`, `memorag:compressor=mean,beta=16`, the recall strategy that writes its clues
(memorag.recall): `memorag:recall=copy`, and its judge (JudgeConfig): `memorag:judge=none` (the union of every
query's top_k, the paper's reading), `memorag:recall=none,pool=40`, `memorag:judge=gemma3-270m`,
`memorag:judge_context=memory`. `rag`, `hyde` and `memorag` take `retriever=dense|bm25|hybrid` (the ranking of
the question's hits; default: the run's). All methods share the models, the chunking, top_k (per
query) and the budget of generated tokens. QA tasks go through `MemoRAG.ask` (modes full, rag, memorag) so the
harness measures the shipped pipeline; HyDE (Gao et al. 2022) and summarization tasks are composed here from the
pipeline's generator, retriever and memory. Does not batch, and does not use LongBench's per-task prompt
wording: every method reads the pipeline's own answer prompt, the same for all of them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from memorag.config import ANSWER_STYLES, RETRIEVERS, JudgeConfig, MemoryConfig
from memorag.types import Answer, Clue, EvidencePassage

CONTROLS = ("random", "recency")  # evidence chosen without the question: what chance and a recency prior find
METHODS = ("full", "rag", "hyde", "memorag", *CONTROLS)
BASELINE_MEMORY_KIND = "none"  # the others need the index only: their stores skip the memory prefill
# for summarization rows without an instruction (LongBench multi_news)
SUMMARY_INSTRUCTION = "Summarize the text."
HYPOTHESIS_TOKENS = MemoryConfig().max_clue_tokens  # HyDE's passage gets the budget of one memorag clue
SUMMARY_POINTS = 5  # key points the memory lists as retrieval queries for a summary (MemoRAG "summarize")
_NOT_OVERRIDABLE = frozenset({"device", "dtype"})  # set for the whole run, never per method
JUDGE_KEYS = {"judge": "model", "pool": "pool", "clue_hits": "clue_hits", "passage_tokens": "passage_tokens",
              "judge_context": "context", "judge_batch": "batch_size", "prior": "prior"}  # spec key -> JudgeConfig field

HYDE_SYSTEM = "You write short factual passages."
HYDE_PROMPT = (
    "Write a short passage, a few sentences long, that answers this question.\n\nQuestion: {question}"
)
HYDE_SUMMARY_PROMPT = (
    "Write a short summary of a text that this instruction could be about.\n\nInstruction: {question}"
)
SUMMARY_PROMPT = (
    "Passages:\n{context}\n\nTask: {instruction}\nWrite a few sentences, using only the passages."
)


@dataclass(frozen=True)
class MethodSpec:
    """One method to evaluate: `name` in METHODS and, for memorag, (field, value) overrides of MemoryConfig and
    the recall strategy."""

    name: str
    memory: tuple[tuple[str, Any], ...] = ()
    recall: str = "generate"
    retriever: str | None = None  # None: the run's RetrievalConfig.retriever
    judge: tuple[tuple[str, Any], ...] = ()  # (spec key, value) overrides of JudgeConfig, memorag only
    answer: str = "generate"  # "quote": the best evidence sentence (rag and memorag)

    @property
    def label(self) -> str:
        """The canonical spelling, used as the method's name in predictions and tables."""
        settings = [*self.memory, *self.judge]
        if self.recall != "generate":
            settings.append(("recall", self.recall))
        if self.retriever is not None:
            settings.append(("retriever", self.retriever))
        if self.answer != "generate":
            settings.append(("answer", self.answer))
        if not settings:
            return self.name
        return f"{self.name}:" + ",".join(f"{key}={_spell(value)}" for key, value in sorted(settings))

    def judge_config(self) -> JudgeConfig:
        """The judge of a memorag method: JudgeConfig's defaults with this spec's overrides."""
        return JudgeConfig(**{JUDGE_KEYS[key]: value for key, value in self.judge})

    def memory_config(self, base: MemoryConfig) -> MemoryConfig:
        """The memory settings of this method's store: none for the baselines, base plus overrides for memorag."""
        if self.name != "memorag":
            return replace(base, kind=BASELINE_MEMORY_KIND)
        return replace(base, **dict(self.memory))


def _spell(value: Any) -> str:
    return "auto" if value is None else str(value)


def _convert(key: str, text: str, default: Any) -> Any:
    """`text` as the type of MemoryConfig's default for `key` (None defaults, like beta, take an int or auto)."""
    if default is None and text.lower() in ("auto", "none"):
        return None
    try:
        if isinstance(default, bool):
            return text.lower() in ("1", "true", "yes")
        if isinstance(default, int) or default is None:
            return int(text)
        if isinstance(default, float):
            return float(text)
    except ValueError:
        kind = "an integer or auto" if default is None else type(default).__name__
        raise ValueError(f"memory setting {key}={text!r}: {key} takes {kind}") from None
    return text


def parse_method(spec: str) -> MethodSpec:
    """`rag` -> MethodSpec("rag"); `memorag:compressor=mean,beta=16` -> overrides sorted by field name;
    `memorag:recall=copy` -> the copy strategy (memorag.recall.STRATEGIES)."""
    from memorag.recall import STRATEGIES

    name, _, settings = spec.strip().partition(":")
    name = name.strip()
    if name not in METHODS:
        raise ValueError(
            f"unknown method {name!r}; methods are {', '.join(METHODS)} (memorag takes settings)"
        )
    if not settings.strip():
        return MethodSpec(name)
    if name not in ("memorag", "rag", "hyde"):
        raise ValueError(f"{spec!r}: {name} takes no settings")
    defaults = {f.name: getattr(MemoryConfig(), f.name) for f in fields(MemoryConfig)}
    types = {f.name: f.type for f in fields(MemoryConfig)}
    overrides: dict[str, Any] = {}
    judge: dict[str, Any] = {}
    recall = "generate"
    retriever: str | None = None
    answer = "generate"
    for item in settings.split(","):
        key, equals, text = (part.strip() for part in item.partition("="))
        if equals and key == "answer" and name in ("rag", "memorag"):
            if text not in ANSWER_STYLES:
                raise ValueError(f"{spec!r}: answer={text!r}; choose {' or '.join(ANSWER_STYLES)}")
            answer = text
            continue
        if equals and key == "retriever":
            if text not in RETRIEVERS:
                raise ValueError(f"{spec!r}: retriever={text!r}; choose one of {', '.join(RETRIEVERS)}")
            retriever = text
            continue
        if name != "memorag":
            raise ValueError(f"{spec!r}: {name} takes only retriever= (rag also answer=); {item.strip()!r} is a "
                             "memorag setting")
        if equals and key == "recall":
            if text not in STRATEGIES:
                raise ValueError(f"{spec!r}: recall={text!r} is not a strategy; choose one of {', '.join(STRATEGIES)}")
            recall = text
            continue
        if equals and key in JUDGE_KEYS:
            field_default = getattr(JudgeConfig(), JUDGE_KEYS[key])
            judge[key] = _convert(key, text, field_default)
            continue
        if not equals or key not in defaults or key in _NOT_OVERRIDABLE:
            known = ", ".join(["recall", "retriever", *JUDGE_KEYS, *(k for k in defaults if k not in _NOT_OVERRIDABLE)])
            raise ValueError(
                f"{spec!r}: {item.strip()!r} is not a memory setting; write key=value with a key in {known}"
            )
        default = defaults[key]
        if default is None and "str" in str(types[key]):  # str | None settings (adapter) take the text as is
            default = ""
        overrides[key] = _convert(key, text, default)
    replace(MemoryConfig(), **overrides)  # MemoryConfig checks the values now, not hours into a run
    method = MethodSpec(name, tuple(sorted(overrides.items())), recall, retriever, tuple(sorted(judge.items())),
                        answer)
    method.judge_config()  # JudgeConfig checks its values now too
    return method


def split_specs(text: str) -> list[str]:
    """Split `full,rag,memorag:compressor=mean,beta=16` at commas; a `key=value` piece continues the spec before."""
    specs: list[str] = []
    for piece in (p.strip() for p in text.split(",")):
        if not piece:
            continue
        if "=" in piece and ":" not in piece and specs:
            specs[-1] += f",{piece}"
        else:
            specs.append(piece)
    return specs


def parse_methods(texts: str | Sequence[str]) -> list[MethodSpec]:
    """Method specs from comma-separated text (or several such texts); duplicates are dropped, order kept."""
    items = [texts] if isinstance(texts, str) else list(texts)
    methods = [parse_method(spec) for text in items for spec in split_specs(text)]
    if not methods:
        raise ValueError(f"no method given; methods are {', '.join(METHODS)}")
    return list(dict.fromkeys(methods))


# ----- running one method on one question ------------------------------------------------------------------
def hyde_messages(question: str, summary: bool = False) -> list[dict[str, str]]:
    """The prompt for HyDE's hypothetical document: the generator writes it without any context."""
    template = HYDE_SUMMARY_PROMPT if summary else HYDE_PROMPT
    return [
        {"role": "system", "content": HYDE_SYSTEM},
        {"role": "user", "content": template.format(question=question)},
    ]


def hyde_queries(generator: Any, question: str, max_new_tokens: int, summary: bool = False) -> list[str]:
    """[question, hypothetical passage]: HyDE searches with a generated answer; here it joins the question."""
    hypothesis = generator.generate(hyde_messages(question, summary), max_new_tokens=max_new_tokens)
    return [question, hypothesis] if hypothesis.strip() else [question]


def summary_messages(instruction: str, context: str) -> list[dict[str, str]]:
    from memorag.pipeline import SUMMARY_SYSTEM

    user = SUMMARY_PROMPT.format(context=context, instruction=instruction)
    return [{"role": "system", "content": SUMMARY_SYSTEM}, {"role": "user", "content": user}]


def control_order(name: str, count: int, key: str) -> list[int]:
    """Chunk ids 0..count-1 in a control's order: `random` shuffled by a seed drawn from `key` (the example's id),
    `recency` from the last chunk back."""
    if name == "recency":
        return list(range(count - 1, -1, -1))
    if name == "random":
        import hashlib
        import random

        order = list(range(count))
        random.Random(int(hashlib.sha256(key.encode()).hexdigest()[:16], 16)).shuffle(order)
        return order
    raise ValueError(f"{name!r} is not a control; controls are {', '.join(CONTROLS)}")


def control_evidence(chunks: Sequence[Any], name: str, top_k: int, key: str) -> tuple[EvidencePassage, ...]:
    """The first `top_k` chunks of a control's order, as evidence in the document's order (score 0)."""
    return tuple(EvidencePassage(chunks[i], 0.0) for i in sorted(control_order(name, len(chunks), key)[:top_k]))


def _control_answer(rag: Any, spec: MethodSpec, question: str, top_k: int, max_new_tokens: int, key: str) -> Answer:
    from memorag.pipeline import answer_messages, evidence_prompt

    evidence = control_evidence(rag.retriever.chunks, spec.name, top_k, key)
    timings: dict[str, float] = {}
    text = _generate(rag.generator, answer_messages(question, evidence_prompt(evidence)), max_new_tokens, timings)
    return Answer(question, text, spec.name, (), evidence, timings)


def _generate(generator: Any, messages: list[dict[str, str]], max_new_tokens: int, timings: dict[str, float]) -> str:
    """The generator's text, timed as "generate"; "" without running it when the budget is 0 (retrieval only)."""
    if max_new_tokens == 0:
        return ""
    started = time.perf_counter()
    text = generator.generate(messages, max_new_tokens=max_new_tokens)
    _timed(timings, "generate", started)
    return text


def _timed(timings: dict[str, float], stage: str, started: float) -> None:
    timings[stage] = time.perf_counter() - started


def _hyde_answer(rag: Any, question: str, top_k: int, max_new_tokens: int, hypothesis_tokens: int,
                 retriever: str | None = None) -> Answer:
    from memorag.pipeline import answer_messages, evidence_prompt

    timings: dict[str, float] = {}
    started = time.perf_counter()
    queries = hyde_queries(rag.generator, question, hypothesis_tokens)
    _timed(timings, "hypothesize", started)
    started = time.perf_counter()
    evidence = rag.retriever.retrieve(queries, top_k, retriever=retriever)
    _timed(timings, "retrieve", started)
    text = _generate(rag.generator, answer_messages(question, evidence_prompt(evidence)), max_new_tokens, timings)
    clues = tuple(Clue(query, "hypothesis") for query in queries[1:])
    return Answer(question, text, "hyde", clues, tuple(evidence), timings)


def _summary_answer(
    rag: Any, spec: MethodSpec, instruction: str, top_k: int, max_new_tokens: int, hypothesis_tokens: int,
    key: str = "",
) -> Answer:
    """Summaries: full reads the text; the others retrieve with the instruction plus their own queries."""
    from memorag.pipeline import evidence_prompt

    timings: dict[str, float] = {}
    clues: list[Clue] = []
    evidence: Sequence[EvidencePassage] = ()
    started = time.perf_counter()
    if spec.name == "hyde":
        hypothesis = hyde_queries(rag.generator, instruction, hypothesis_tokens, summary=True)[1:]
        clues = [Clue(text, "hypothesis") for text in hypothesis]
        _timed(timings, "hypothesize", started)
    elif spec.name == "memorag":
        clues = list(rag.memory.summarize(SUMMARY_POINTS))  # MemoRAG "summarize": key points as queries
        _timed(timings, "recall", started)
    if spec.name == "full":
        context = "\n\n".join(document.text for document in rag.documents)
    elif spec.name in CONTROLS:
        evidence = control_evidence(rag.retriever.chunks, spec.name, top_k, key)
        context = evidence_prompt(evidence)
    else:
        started = time.perf_counter()
        evidence = rag.retriever.retrieve([instruction, *(clue.text for clue in clues)], top_k)
        _timed(timings, "retrieve", started)
        context = evidence_prompt(evidence)
    text = _generate(rag.generator, summary_messages(instruction, context), max_new_tokens, timings)
    return Answer(instruction, text, spec.label, tuple(clues), tuple(evidence), timings)


def run_method(
    rag: Any,
    spec: MethodSpec,
    question: str,
    summary: bool,
    top_k: int,
    max_new_tokens: int,
    hypothesis_tokens: int = HYPOTHESIS_TOKENS,
    key: str = "",
) -> Answer:
    """Answer one question (or summarization instruction) with one method on an opened store.

    max_new_tokens bounds the answer of every method (0: no answer, retrieval only); hypothesis_tokens bounds
    HyDE's passage, which is a query like one memorag clue (MemoryConfig.max_clue_tokens by default). `key` seeds
    the random control.
    """
    if summary:
        instruction = question.strip() or SUMMARY_INSTRUCTION
        return _summary_answer(rag, spec, instruction, top_k, max_new_tokens, hypothesis_tokens, key)
    if spec.name == "hyde":
        return _hyde_answer(rag, question, top_k, max_new_tokens, hypothesis_tokens, spec.retriever)
    if spec.name in CONTROLS:
        return _control_answer(rag, spec, question, top_k, max_new_tokens, key)
    judge = spec.judge_config() if spec.name == "memorag" else None
    return rag.ask(question, mode=spec.name, top_k=top_k, max_new_tokens=max_new_tokens, recall=spec.recall,
                   retriever=spec.retriever, judge=judge, answer=spec.answer)
