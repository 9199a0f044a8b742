"""The evaluation run: examples x methods -> predictions.jsonl, summary.json and table.md in one output folder.

Every (example, method) answer is appended to `predictions.jsonl` and flushed as soon as it is scored, so an
interrupted run loses nothing written and the same command resumes it, skipping the (task, id, method) triples
already there. Each example is memorized once per memory setting into `stores/<task>/<hash>` under the
output folder and reused by every method and every later run. `run.json` records the settings that change
answers; a later run with other settings in the same folder is refused. Does not run examples in parallel.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memorag.config import GenerationConfig, MemoryConfig, RetrievalConfig, config_to_dict
from memorag.durable import exclusive_lock, refuse_foreign, write_text_atomic
from memorag.errors import MemoRAGError, StoreMismatchError
from memorag.eval.datasets import (
    DatasetFormatError,
    EvalExample,
    discover_tasks,
    read_corpus,
    read_longbench_jsonl,
)
from memorag.eval.methods import CONTROLS, MethodSpec, control_order, run_method
from memorag.eval.metrics import (
    answer_bearing,
    answer_in_text,
    best_over_answers,
    evidence_recall,
    metric_for_task,
    supported,
)
from memorag.eval.report import RECALL_KS, build_summary, markdown_table, peak_rss_mb
from memorag.generation.citations import uncited
from memorag.types import Answer, Document

PREDICTIONS = "predictions.jsonl"
SUMMARY = "summary.json"
TABLE = "table.md"
RUN_SETTINGS = "run.json"
MEMORIZE_TIMINGS = "eval_memorize.json"  # written into each store the runner builds: what memorizing it cost
# Generated-token budget of an answer, the same for every method: LongBench's own for its QA tasks
# (THUDM/LongBench config/dataset2maxlen.json), else 64 for QA and 256 for summaries (LongBench gives 512).
LONGBENCH_NEW_TOKENS = {
    "narrativeqa": 128,
    "qasper": 128,
    "multifieldqa_en": 64,
    "hotpotqa": 32,
    "2wikimqa": 32,
    "musique": 32,
    "triviaqa": 32,
}
QA_NEW_TOKENS = 64
RECALL_DEPTH = 20  # hits per query that the fused ranking of answer_recall@k draws from
SUMMARY_NEW_TOKENS = 256


class EvalSettingsError(MemoRAGError, ValueError):
    """The output folder holds a run made with other settings; its predictions would not be comparable."""


@dataclass(frozen=True)
class EvalSettings:
    """What a run shares across methods. `max_new_tokens` None: each task's own budget (see answer_budget)."""

    out: Path
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    top_k: int = 3
    max_new_tokens: int | None = None
    # keep only the first N characters of each context (quick runs, tests)
    max_context_chars: int | None = None
    metric: str | None = None  # one METRICS name for every task; None: metric_for_task
    answers: bool = True  # False: retrieval only, no generated answer (R@k and evidence, no F1), about half the time
    progress: bool = True

    def answer_affecting(self) -> dict[str, Any]:
        """The settings that change predictions (devices and batch sizes do not), as saved in run.json.
        `answers` appears only when off, so folders written before the option existed still match."""
        retrieval_only = {} if self.answers else {"answers": False}
        return {
            **retrieval_only,
            "memory": _without(config_to_dict(self.memory), "device"),
            "retrieval": _without(config_to_dict(self.retrieval), "device", "batch_size", "top_k"),
            "generation": _without(config_to_dict(self.generation), "device", "max_new_tokens"),
            "top_k": self.top_k,
            "max_new_tokens": self.max_new_tokens,
            "max_context_chars": self.max_context_chars,
            "metric": self.metric,
        }


def _without(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key not in keys}


# ----- examples ---------------------------------------------------------------------------------------------
def _sample(examples: list[EvalExample], limit: int | None, seed: int) -> list[EvalExample]:
    """A seeded sample of `limit` examples, kept in input order (as read_longbench_jsonl samples)."""
    if limit is None or limit >= len(examples):
        return examples
    keep = sorted(random.Random(seed).sample(range(len(examples)), limit))
    return [examples[i] for i in keep]


def load_examples(
    data: Path | None = None,
    corpus: Path | None = None,
    questions: Path | None = None,
    limit: int | None = None,
    ids: Sequence[str] | None = None,
    seed: int = 0,
) -> list[EvalExample]:
    """LongBench-format `data` (a .jsonl file or a folder of them; `limit` per task), or `corpus` + `questions`.

    `ids` keeps only those example ids (each must exist somewhere); `limit` then samples per task with `seed`.
    """
    if (data is None) == (corpus is None) or (corpus is None) != (questions is None):
        raise ValueError(
            "give either --data (a .jsonl file or folder) or both --corpus DIR and --questions FILE"
        )
    if corpus is not None and questions is not None:
        tasks = [read_corpus(corpus, questions)]
    elif ids is None:
        tasks = [read_longbench_jsonl(path, limit, seed=seed) for path in discover_tasks(Path(str(data)))]
    else:
        tasks = [read_longbench_jsonl(path) for path in discover_tasks(Path(str(data)))]
    if ids is not None:
        wanted = set(ids)
        found = {example.id for task in tasks for example in task}
        if wanted - found:
            raise DatasetFormatError(f"no example with id {', '.join(sorted(wanted - found))} in the data")
        tasks = [[example for example in task if example.id in wanted] for task in tasks]
    return [example for task in tasks for example in _sample(task, limit, seed)]


def metric_of(example: EvalExample, override: str | None = None) -> str:
    """The METRICS name scoring `example`: the override, else by task (file) name, else by its `dataset` field."""
    if override:
        return override
    try:
        return metric_for_task(example.task)
    except MemoRAGError:
        if isinstance(example.extra.get("dataset"), str):
            return metric_for_task(example.extra["dataset"])
        raise


def answer_budget(example: EvalExample, metric: str, override: int | None = None) -> int:
    """Tokens the generator may write for `example`: the override, LongBench's budget for its task, or a default."""
    if override:
        return override
    for name in (example.task, example.extra.get("dataset")):
        if isinstance(name, str) and name.lower().removesuffix("_e") in LONGBENCH_NEW_TOKENS:
            return LONGBENCH_NEW_TOKENS[name.lower().removesuffix("_e")]
    return SUMMARY_NEW_TOKENS if metric == "rouge_l" else QA_NEW_TOKENS


def prepared_context(example: EvalExample, max_chars: int | None) -> str:
    return example.context if max_chars is None else example.context[:max_chars]


# ----- stores -----------------------------------------------------------------------------------------------
def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80] or "_"


def store_dir(
    root: Path, example: EvalExample, context: str, memory: MemoryConfig, retrieval: RetrievalConfig
) -> Path:
    """`root/stores/<task>/<hash of the memory and chunking settings and of the memorized text>`: questions about
    the same context share one store (L-Eval asks several per document), named after the first one's id."""
    key = {
        "memory": _without(config_to_dict(memory), "device"),
        "retrieval": _without(config_to_dict(retrieval), "device", "batch_size", "top_k"),  # top_k: per ask
        "context": hashlib.sha256(context.encode("utf-8")).hexdigest(),
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode("utf-8")).hexdigest()[:12]
    return Path(root) / "stores" / _safe_name(example.task) / digest


class StoreCache:
    """Opens the store of (example, memory settings): loads it when cached on disk, memorizes it otherwise.

    Keeps the stores it opened until `release`, so the methods of an example (and the next examples about the
    same context) share them.
    """

    def __init__(self, root: Path, retrieval: RetrievalConfig, generation: GenerationConfig) -> None:
        self.root, self.retrieval, self.generation = Path(root), retrieval, generation
        self._open: dict[Path, tuple[Any, dict[str, Any]]] = {}

    def open(self, example: EvalExample, context: str, memory: MemoryConfig) -> tuple[Any, dict[str, Any]]:
        """(MemoRAG, info: dir, built, seconds, memorize_s) for the example's store with these settings."""
        path = store_dir(self.root, example, context, memory, self.retrieval)
        if path not in self._open:
            started = time.perf_counter()
            rag, built = self._load_or_build(path, Document(example.id, context), memory)
            spent = json.loads((path / MEMORIZE_TIMINGS).read_text(encoding="utf-8"))
            info = {
                "dir": str(path.relative_to(self.root)),
                "built": built,
                "seconds": round(time.perf_counter() - started, 3),
                "memorize_s": round(sum(spent.values()), 3),
            }
            self._open[path] = (rag, info)
        return self._open[path]

    def _load_or_build(self, path: Path, document: Document, memory: MemoryConfig) -> tuple[Any, bool]:
        from memorag.pipeline import MemoRAG

        if (path / MEMORIZE_TIMINGS).is_file():  # written last: a store without it was never finished
            try:
                return MemoRAG.load(path, generation=self.generation, device=memory.device), False
            except StoreMismatchError:  # the model files changed since: memorize again with the new ones
                pass
        rag = MemoRAG(memory, self.retrieval, self.generation)
        timings = rag.memorize(document, store=path, overwrite=True)  # the runner's own cache: an unfinished one
        write_text_atomic(path / MEMORIZE_TIMINGS, json.dumps(timings) + "\n")
        return rag, True

    def release(self) -> None:
        self._open.clear()


# ----- predictions log --------------------------------------------------------------------------------------
def row_key(row: dict[str, Any]) -> tuple[str, str, str]:
    return (str(row["task"]), str(row["id"]), str(row["method"]))


class PredictionLog:
    """predictions.jsonl: read on open (a line cut short by a kill is dropped), appended and flushed per row."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.rows: dict[tuple[str, str, str], dict[str, Any]] = {}
        if self.path.is_file():
            self._read()

    def _read(self) -> None:
        text = self.path.read_text(encoding="utf-8")
        if text and not text.endswith("\n"):  # killed mid-write: drop the partial last line
            text = text[: text.rfind("\n") + 1]
            write_text_atomic(self.path, text)
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DatasetFormatError(
                    f"{self.path}:{number}: not valid JSON ({err.msg}); delete that line and run again to redo it"
                ) from err
            self.rows[row_key(row)] = row

    def __contains__(self, key: tuple[str, str, str]) -> bool:
        return key in self.rows

    def append(self, row: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.rows[row_key(row)] = row


# ----- one prediction ---------------------------------------------------------------------------------------
def evidence_scores(
    example: EvalExample, answer: Answer, retrieved: bool, summary: bool
) -> dict[str, float | None]:
    """answer_in_evidence: 1.0 when a retrieved chunk holds a gold answer (QA, methods that retrieve);
    evidence_recall: share of gold evidence strings (an `evidence` list in the data) found in the chunks."""
    texts = [passage.text for passage in answer.evidence]
    in_evidence = None
    if retrieved and not summary:
        in_evidence = float(any(answer_in_text(example.answers, text) for text in texts))
    gold = example.extra.get("evidence")
    recall = None
    if retrieved and isinstance(gold, list) and any(isinstance(g, str) and g.strip() for g in gold):
        recall = evidence_recall(texts, [g for g in gold if isinstance(g, str)])
    return {"answer_in_evidence": in_evidence, "evidence_recall": recall}


def answer_recall(retriever: Any, example: EvalExample, answer: Answer, control: str | None = None,
                  method_retriever: str | None = None, bearing: set[int] | None = None) -> dict[str, float]:
    """{"3": 1.0 or 0.0, "5": ...}: whether an answer-bearing chunk (metrics.answer_bearing: one holding a gold
    answer, or for abstractive answers the one covering most of it) is in the top k chunks of the method's queries
    (the question, then its clues or HyDE passage) fused by reciprocal rank, each query counting once. One budget
    of k chunks for every method, whatever evidence it read. A control ranks the chunks in its own order; a judged
    method (an answer with a `ranking`) is scored on the judge's ranking, whose top k is what it hands over."""
    if bearing is None:  # the answer-bearing chunk ids, when the caller has not found them already
        bearing = answer_bearing([chunk.text for chunk in retriever.chunks], example.answers)
    if control is not None:
        order = control_order(control, len(retriever.chunks), example.id)
        return {str(k): float(any(i in bearing for i in order[:k])) for k in RECALL_KS}
    if answer.ranking:
        return {str(k): float(any(i in bearing for i in answer.ranking[:k])) for k in RECALL_KS}
    queries = [example.question, *(clue.text for clue in answer.clues)]
    per_query = retriever.search(queries, RECALL_DEPTH, method_retriever)
    return fused_recall(per_query, retriever.chunks, bearing)


def judged_pool(answer: Answer, bearing: set[int]) -> list[list[Any]] | None:
    """The judged pool of a memorag answer in the retriever's order, [chunk id, judge score, answer-bearing 0/1]
    each (None without a judge; `bearing`: the answer-bearing chunk ids): what benchmarks/judge_fusion.py re-ranks
    offline for other `prior` weights."""
    if not answer.pool:
        return None
    return [[chunk_id, round(score, 4), int(chunk_id in bearing)] for chunk_id, score in answer.pool]


def fused_recall(
    per_query: Sequence[Any], chunks: Sequence[Any], bearing: set[int], weights: Sequence[float] | None = None
) -> dict[str, float]:
    """{"3": 1.0 or 0.0, ...}: a chunk id of `bearing` in the top k of the queries' reciprocal-rank fusion
    (`weights` per query, None: each counts once)."""
    from memorag.retrieval import fuse_hits

    return {
        str(k): float(any(p.chunk.chunk_id in bearing for p in fuse_hits(per_query, chunks, k, weights)))
        for k in RECALL_KS
    }


def prediction_row(
    example: EvalExample, spec: MethodSpec, metric: str, answer: Answer, wall_s: float, store: dict[str, Any],
    recall: dict[str, float] | None = None, scored: bool = True, pool: list[list[Any]] | None = None,
) -> dict[str, Any]:
    """One line of predictions.jsonl; `scored` False (a retrieval-only run): no answer, so score and EM are None."""
    summary = metric == "rouge_l"
    text = uncited(answer.answer)  # scored without its [n] markers: a citation is not an answer token
    return {
        "id": example.id,
        "task": example.task,
        "method": spec.label,
        "question": example.question,
        "prediction": answer.answer,
        "answers": list(example.answers),
        "metric": metric,
        "score": best_over_answers(metric, text, example.answers) if scored else None,
        "exact_match": None
        if summary or not scored
        else best_over_answers("exact_match", text, example.answers),
        **evidence_scores(example, answer, spec.name != "full", summary),
        "supported": supported(text, [p.text for p in answer.evidence])
        if scored and not summary and spec.name != "full" else None,
        "answer_recall": recall,
        "clues": [{"kind": c.kind, "text": c.text, "strategy": c.strategy} for c in answer.clues],
        "evidence": [
            {
                "chunk_id": p.chunk.chunk_id,
                "doc_id": p.chunk.doc_id,
                "start": p.chunk.start,
                "end": p.chunk.end,
                "score": round(float(p.score), 4),
                "judge_score": None if p.judge_score is None else round(float(p.judge_score), 4),
                "queries": list(p.queries),
            }
            for p in answer.evidence
        ],
        "evidence_chars": sum(len(p.text) for p in answer.evidence),
        "citations": len(answer.citations),  # passages the answer cites as [n] (memorag.generation.citations)
        "dropped_citations": answer.dropped_citations,  # [n] to passages not given, removed from the prediction
        "judge": answer.judge,
        "pool": pool,
        "timings": {stage: round(seconds, 3) for stage, seconds in answer.timings.items()},
        "wall_s": round(wall_s, 3),
        "store": store,
        "error": None,
    }


def error_row(
    example: EvalExample, spec: MethodSpec, metric: str, error: Exception, scored: bool = True
) -> dict[str, Any]:
    """A failed prediction scores 0 (None in a retrieval-only run) and says why; delete its line from
    predictions.jsonl to retry it."""
    return {
        "id": example.id,
        "task": example.task,
        "method": spec.label,
        "question": example.question,
        "prediction": "",
        "answers": list(example.answers),
        "metric": metric,
        "score": 0.0 if scored else None,
        "exact_match": None,
        "answer_in_evidence": None,
        "supported": None,
        "evidence_recall": None,
        "answer_recall": None,
        "clues": [],
        "evidence": [],
        "evidence_chars": 0,
        "citations": 0,
        "dropped_citations": 0,
        "judge": None,
        "pool": None,
        "timings": {},
        "wall_s": 0.0,
        "store": None,
        "error": f"{type(error).__name__}: {error}",
    }


def evaluate(
    example: EvalExample, context: str, spec: MethodSpec, metric: str, stores: Any, settings: EvalSettings
) -> dict[str, Any]:
    """Open the method's store, answer, score. A MemoRAGError (a context over a fixed beta's budget, a server
    error) or a ValueError (an empty question) becomes an error row; other exceptions stop the run."""
    summary = metric == "rouge_l"
    budget = answer_budget(example, metric, settings.max_new_tokens) if settings.answers else 0
    try:
        rag, store = stores.open(example, context, spec.memory_config(settings.memory))
        started = time.perf_counter()
        answer = run_method(
            rag, spec, example.question, summary, settings.top_k, budget, settings.memory.max_clue_tokens,
            key=example.id,
        )
        wall_s = time.perf_counter() - started
        control = spec.name if spec.name in CONTROLS else None
        recall = pool = None
        if not summary and spec.name != "full":
            bearing = answer_bearing([chunk.text for chunk in rag.retriever.chunks], example.answers)
            recall = answer_recall(rag.retriever, example, answer, control, spec.retriever, bearing)
            pool = judged_pool(answer, bearing)
    except (MemoRAGError, ValueError) as error:
        return error_row(example, spec, metric, error, scored=settings.answers)
    return prediction_row(example, spec, metric, answer, wall_s, store, recall, scored=settings.answers, pool=pool)


# ----- the run ----------------------------------------------------------------------------------------------
def check_settings(out: Path, settings: EvalSettings) -> None:
    """Write run.json on the first run; refuse a later run whose answer-affecting settings differ."""
    path = Path(out) / RUN_SETTINGS
    current = json.loads(json.dumps(settings.answer_affecting()))  # tuples -> lists, as read back
    if path.is_file():
        saved = json.loads(path.read_text(encoding="utf-8"))
        if saved != current:
            differ = sorted(key for key in {*saved, *current} if saved.get(key) != current.get(key))
            raise EvalSettingsError(
                f"{out} holds a run with other settings ({', '.join(differ)} differ, see {path}): "
                "use another --out, or delete the folder's predictions.jsonl and run.json to start over"
            )
        return
    write_text_atomic(path, json.dumps(current, indent=1) + "\n")


def _pending(
    examples: Iterable[EvalExample], methods: Sequence[MethodSpec], log: PredictionLog
) -> list[tuple[EvalExample, list[MethodSpec]]]:
    work = []
    for example in examples:
        todo = [spec for spec in methods if (example.task, example.id, spec.label) not in log]
        if todo:
            work.append((example, todo))
    return work


def write_report(
    out: Path, rows: list[dict[str, Any]], methods: Sequence[str], settings: EvalSettings
) -> dict[str, Any]:
    summary = build_summary(rows, methods)
    summary["settings"] = settings.answer_affecting()
    summary["peak_rss_mb"] = peak_rss_mb()  # of the process that wrote this summary (models, stores, answers)
    write_text_atomic(out / SUMMARY, json.dumps(summary, ensure_ascii=False, indent=1) + "\n")
    write_text_atomic(out / TABLE, markdown_table(summary))
    return summary


def run_eval(
    examples: Sequence[EvalExample], methods: Sequence[MethodSpec], settings: EvalSettings, stores: Any = None
) -> dict[str, Any]:
    """Answer every (example, method) not yet in predictions.jsonl, then write summary.json and table.md.

    `stores` opens stores (default: a StoreCache under settings.out). The summary covers exactly the given
    examples and methods, including answers written by earlier runs. Ctrl-C writes the summary of what is done.
    """
    out = Path(settings.out)
    metrics = {(example.task, example.id): metric_of(example, settings.metric) for example in examples}
    refuse_foreign(out, is_eval_folder, "an eval run folder", "give --out a new folder (or an earlier run's)")
    with exclusive_lock(out, timeout=10):  # one run per folder: two would append the same answers and race on the report
        check_settings(out, settings)
        return _run_locked(examples, methods, settings, stores, metrics)


def is_eval_folder(path: Path) -> bool:
    """An empty folder, or one an eval run wrote (it holds run.json or predictions.jsonl)."""
    return path.is_dir() and (not any(path.iterdir()) or (path / RUN_SETTINGS).is_file()
                              or (path / PREDICTIONS).is_file())


def _run_locked(
    examples: Sequence[EvalExample], methods: Sequence[MethodSpec], settings: EvalSettings, stores: Any,
    metrics: dict[tuple[str, str], Any],
) -> dict[str, Any]:
    from tqdm.auto import tqdm

    out = Path(settings.out)
    log = PredictionLog(out / PREDICTIONS)
    stores = stores or StoreCache(out, settings.retrieval, settings.generation)
    work = _pending(examples, methods, log)
    bar = tqdm(
        total=sum(len(todo) for _, todo in work), desc="eval", unit="answer", disable=not settings.progress
    )
    try:
        for n, (example, todo) in enumerate(work):
            context = prepared_context(example, settings.max_context_chars)
            for spec in todo:
                bar.set_postfix_str(f"{example.task} {example.id[:16]} {spec.label}")
                log.append(
                    evaluate(example, context, spec, metrics[(example.task, example.id)], stores, settings)
                )
                bar.update()
            following = work[n + 1][0] if n + 1 < len(work) else None
            if following is None or prepared_context(following, settings.max_context_chars) != context:
                stores.release()  # the next example reads another context: free this one's models and memory
    finally:
        bar.close()
        labels = [spec.label for spec in methods]
        wanted = {(example.task, example.id, label) for example in examples for label in labels}
        summary = write_report(out, [row for key, row in log.rows.items() if key in wanted], labels, settings)
    return summary
