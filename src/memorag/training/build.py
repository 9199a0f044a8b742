"""build-data: sample clue sets from the memory, score each by the answer it leads to (generation feedback).

For each training example: memorize the context into a KV memory (the run's MemoryConfig) and index it; then for
each clue task (span, question, answer) sample `candidates` outputs at temperature > 0, each seeded by (seed, id,
task, n); each candidate's clues plus the question retrieve evidence (as `ask(mode="memorag")` does), the generator
answers from it, and the answer's token F1 against the gold answers is the candidate's score (ties broken by
whether the evidence holds a gold answer). The best candidate is *chosen*, the worst *rejected* (rlgf can
re-rank the recorded candidates by evidence instead, see data.rank_pair); a task whose
candidates all score alike gives no pair. The question-only retrieval (`rag`) is scored too, for reference.
Only the train side of the split is built; the held-out ids are recorded and never read here.
Resumable: an example is done once its preference records are written; a rerun skips it.
Not here: several examples in parallel, batching the generator.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from memorag.config import GenerationConfig, MemoryConfig, RetrievalConfig, config_to_dict
from memorag.durable import refuse_foreign
from memorag.errors import MemoRAGError
from memorag.eval.datasets import EvalExample
from memorag.eval.metrics import answer_in_text, best_over_answers
from memorag.memory.decoding import DecodeOptions
from memorag.memory.kv import KVMemory
from memorag.memory.prompts import parse_clues
from memorag.pipeline import answer_messages, evidence_prompt
from memorag.training import data
from memorag.training.adapters import file_sha256
from memorag.types import Document

TASKS = ("span", "question", "answer")


@dataclass(frozen=True)
class BuildSettings:
    candidates: int = 4  # clue sets sampled per (question, task)
    temperature: float = 0.8
    tasks: tuple[str, ...] = TASKS
    top_k: int = 3
    answer_tokens: int = 32  # generator budget per answer (LongBench's for MuSiQue, HotpotQA, 2Wiki)
    held_out: float = 0.5  # fraction of examples held out from training
    seed: int = 0
    max_context_chars: int | None = None
    span_targets: int = 2  # answer-bearing sentences per SFT span target

    def __post_init__(self) -> None:
        if self.candidates < 2:
            raise ValueError(f"candidates must be at least 2 to form a pair, not {self.candidates}")
        if not self.temperature > 0:
            raise ValueError(f"sampling needs a temperature above 0, not {self.temperature}")
        unknown = set(self.tasks) - set(TASKS)
        if unknown or not self.tasks:
            raise ValueError(f"tasks must be some of {TASKS}, not {sorted(unknown) or 'none'}")


@dataclass
class BuildParts:
    """The loaded models: the memory model (adapter merged, if any), the embedder and the generator."""

    model: Any
    tokenizer: Any
    embedder: Any
    generator: Any


def decode_seed(seed: int, example_id: str, task: str, n: int) -> int:
    return int(hashlib.sha256(f"{seed}:{example_id}:{task}:{n}".encode()).hexdigest()[:8], 16)


def clues_of(text: str, task: str, question: str) -> list[str]:
    """The clue lines a task output gives, as `collect_clues` parses them at inference."""
    if task == "answer":
        return [c.text for c in parse_clues(text, "answer", question, min_chars=1, limit=1)]
    return [c.text for c in parse_clues(text, task, question)]


def score_queries(parts: BuildParts, retriever: Any, example: EvalExample, clues: Sequence[str],
                  top_k: int, answer_tokens: int) -> dict[str, Any]:
    """Retrieve with the question and the clues, answer from the evidence, score against the gold answers."""
    evidence = retriever.retrieve([example.question, *clues], top_k)
    answer = parts.generator.generate(answer_messages(example.question, evidence_prompt(evidence)),
                                      max_new_tokens=answer_tokens)
    return {
        "answer": answer,
        "f1": round(best_over_answers("qa_f1", answer, example.answers), 4),
        "answer_in_evidence": any(answer_in_text(example.answers, p.text) for p in evidence),
        "chunks": [p.chunk.chunk_id for p in evidence],
    }


def example_records(parts: BuildParts, memory_config: MemoryConfig, retrieval_config: RetrievalConfig,
                    example: EvalExample, context: str, settings: BuildSettings) -> list[dict[str, Any]]:
    """The preference records (one per task) of one example."""
    from memorag.retrieval import Retriever

    started = time.perf_counter()
    memory = KVMemory(memory_config, parts.model, parts.tokenizer)
    memory.memorize([Document(example.id, context)])
    retriever = Retriever(parts.embedder, retrieval_config)
    retriever.build([Document(example.id, context)])
    seconds = {"memorize": time.perf_counter() - started, "sample": 0.0, "answer": 0.0}
    scored: dict[tuple[str, ...], dict[str, Any]] = {}  # clue set -> score: identical samples are scored once

    def score(clues: Sequence[str]) -> dict[str, Any]:
        key = tuple(clues)
        if key not in scored:
            started = time.perf_counter()
            scored[key] = score_queries(parts, retriever, example, clues, settings.top_k, settings.answer_tokens)
            seconds["answer"] += time.perf_counter() - started
        return scored[key]

    question_only = score([])
    records = []
    for task in settings.tasks:
        candidates = []
        for n in range(settings.candidates):
            options = DecodeOptions(max_new_tokens=memory_config.max_clue_tokens, temperature=settings.temperature,
                                    seed=decode_seed(settings.seed, example.id, task, n))
            started = time.perf_counter()
            text = memory.generate(task, options, question=example.question)
            seconds["sample"] += time.perf_counter() - started
            clues = clues_of(text, task, example.question)
            candidates.append({"text": text, "clues": clues, **score(clues)})
        chosen, rejected = data.rank_pair(candidates)
        records.append({"id": example.id, "task": task, "question": example.question,
                        "answers": list(example.answers), "candidates": candidates, "chosen": chosen,
                        "rejected": rejected, "question_only": question_only})
    for record in records:  # the example's costs, on each of its records
        record["seconds"] = {stage: round(value, 2) for stage, value in seconds.items()}
    return records


def build_info(source: Path, examples: Sequence[EvalExample], settings: BuildSettings, memory: MemoryConfig,
               retrieval: RetrievalConfig, generation: GenerationConfig) -> dict[str, Any]:
    train, held_out = data.split_examples(examples, settings.held_out, settings.seed)
    return {
        "format": data.DATA_FORMAT,
        "source": {"file": str(source), "sha256": file_sha256(source), "examples": len(examples)},
        "split": {"seed": settings.seed, "held_out_fraction": settings.held_out, "train": train,
                  "held_out": held_out},
        "settings": {"build": {**asdict(settings), "tasks": list(settings.tasks)},
                     "memory": config_to_dict(memory), "retrieval": config_to_dict(retrieval),
                     "generation": config_to_dict(generation)},
    }


def _comparable(info: dict[str, Any]) -> Any:
    """What must match for a rerun to resume: the input's hash, the split and the settings (not devices)."""
    settings = {part: {k: v for k, v in values.items() if k != "device"} for part, values in info["settings"].items()}
    return info["source"]["sha256"], info["split"], settings


def _is_build_folder(path: Path) -> bool:
    """An empty folder, or one a build wrote (it holds build.json)."""
    return path.is_dir() and (not any(path.iterdir()) or (path / data.BUILD_FILE).is_file())


def prepare(out: Path, info: dict[str, Any], tasks: Sequence[str]) -> set[str]:
    """Write build.json (or check it against a previous run's) and return the ids already done: those with a
    record for every task (or an error record); whatever else an interrupted run left is dropped."""
    refuse_foreign(out, _is_build_folder, "a training data folder", "give --out a new folder (or the one to resume)")
    out.mkdir(parents=True, exist_ok=True)
    path = out / data.BUILD_FILE
    if path.is_file():
        if _comparable(data.read_build(out)) != _comparable(json.loads(json.dumps(info))):
            raise data.TrainingDataError(
                f"{out} holds data built from other input or settings (see {path}): use another --out, or "
                "the same options to resume"
            )
    else:
        path.write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    (out / data.HELD_OUT_FILE).write_text(",".join(info["split"]["held_out"]) + "\n", encoding="utf-8")
    rows = data.read_jsonl(out / data.PREFERENCES_FILE)
    tasks_of: dict[str, set[Any]] = {}
    for row in rows:
        tasks_of.setdefault(row["id"], set()).add(row.get("task"))
    done = {i for i, found in tasks_of.items() if None in found or found >= set(tasks)}
    for name in (data.CONTEXTS_FILE, data.SFT_FILE, data.PREFERENCES_FILE):
        data.keep_only(out / name, done)  # drop what an interrupted example left behind
    return done


def build_data(source: Path, examples: Sequence[EvalExample], out: Path, parts: BuildParts, settings: BuildSettings,
               memory: MemoryConfig, retrieval: RetrievalConfig, generation: GenerationConfig,
               progress: bool = False) -> dict[str, Any]:
    """Build the training data of the train split into `out`; returns counts of what is there."""
    from tqdm.auto import tqdm

    if memory.kind != "kv":
        raise ValueError(f"build-data samples clues from a kv memory, not kind {memory.kind!r}")
    out = Path(out)
    info = build_info(source, examples, settings, memory, retrieval, generation)
    done = prepare(out, info, settings.tasks)
    train = set(info["split"]["train"])
    todo = [e for e in examples if e.id in train and e.id not in done]
    for example in tqdm(todo, desc="build-data", unit="example", disable=not progress, dynamic_ncols=True):
        context = example.context[: settings.max_context_chars] if settings.max_context_chars else example.context
        try:
            records = example_records(parts, memory, retrieval, example, context, settings)
        except MemoRAGError as exc:  # e.g. a context over a fixed beta's budget: recorded, skipped on resume
            records = [{"id": example.id, "task": None, "error": f"{type(exc).__name__}: {exc}"}]
        else:
            data.append_jsonl(out / data.CONTEXTS_FILE, [{"id": example.id, "context": context}])
            trimmed = EvalExample(example.id, example.question, context, example.answers, example.task,
                                  example.length, example.extra)
            data.append_jsonl(out / data.SFT_FILE, data.sft_targets(trimmed, settings.span_targets))
        data.append_jsonl(out / data.PREFERENCES_FILE, records)  # written last: marks the example done
    return summarize_data(out)


def summarize_data(out: Path) -> dict[str, Any]:
    rows = data.read_jsonl(out / data.PREFERENCES_FILE)
    ok = [r for r in rows if r.get("task")]
    return {
        "out": str(out),
        "examples": len({r["id"] for r in rows}),
        "errors": len([r for r in rows if r.get("error")]),
        "records": len(ok),
        "pairs": sum(r["chosen"] is not None for r in ok),
        "sft_targets": len(data.read_jsonl(out / data.SFT_FILE)),
    }
