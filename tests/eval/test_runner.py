"""The runner on fake stores (no weights): resume, interruption, error rows, settings, summary and table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fakes import OneChunkRetriever

from memorag.config import MemoryConfig, RetrievalConfig
from memorag.errors import MemoryBudgetError
from memorag.eval.datasets import DatasetFormatError, EvalExample
from memorag.eval.methods import parse_methods
from memorag.eval.metrics import UnknownTaskError, answer_bearing
from memorag.eval.runner import (
    PREDICTIONS,
    EvalSettings,
    EvalSettingsError,
    answer_budget,
    answer_recall,
    build_summary,
    evidence_scores,
    judged_pool,
    load_examples,
    markdown_table,
    metric_of,
    run_eval,
    store_dir,
)
from memorag.types import Answer, Chunk, Clue, EvidencePassage


def _example(task: str, number: int, **extra: Any) -> EvalExample:
    context = f"Intro. The code of vault {number} is {number}{number}{number}. Outro."
    return EvalExample(
        f"{task}-{number}",
        f"What is the code of vault {number}?",
        context,
        (f"{number}{number}{number}",),
        task,
        len(context.split()),
        extra,
    )


EXAMPLES = [_example("hotpotqa", 1), _example("hotpotqa", 2), _example("musique", 3), _example("musique", 4)]
METHODS = parse_methods("rag,memorag")


class FakeRag:
    """rag answers wrongly from the right chunk; memorag answers right."""

    def __init__(self, stores: FakeStores, context: str) -> None:
        self.stores, self.context = stores, context
        self.retriever = OneChunkRetriever(context)

    def ask(
        self,
        question: str,
        mode: str = "memorag",
        top_k: int | None = None,
        max_new_tokens: int | None = None,
        recall: str = "generate",
        retriever: str | None = None,
        judge: Any = None,
        answer: str = "generate",
    ) -> Answer:
        self.stores.asked.append((question, mode))
        self.stores.budgets.append(max_new_tokens)
        if self.stores.interrupt_at == len(self.stores.asked):
            raise KeyboardInterrupt
        if self.stores.ask_error:
            raise self.stores.ask_error
        chunk = Chunk(0, 0, "doc", 0, len(self.context), self.context)
        code = self.context.split(" is ")[1].split(".")[0]
        text = code if mode == "memorag" else "I do not know"
        return Answer(
            question, text, mode, (), (EvidencePassage(chunk, 0.5),), {"retrieve": 0.01, "generate": 0.1}
        )


class FakeStores:
    def __init__(
        self, interrupt_at: int = 0, fail_kinds: tuple[str, ...] = (), ask_error: Exception | None = None
    ) -> None:
        self.asked: list[tuple[str, str]] = []
        self.budgets: list[int | None] = []
        self.opened: list[tuple[str, str]] = []
        self.interrupt_at, self.fail_kinds, self.ask_error = interrupt_at, fail_kinds, ask_error

    def open(
        self, example: EvalExample, context: str, memory: MemoryConfig
    ) -> tuple[FakeRag, dict[str, Any]]:
        self.opened.append((example.id, memory.kind))
        if memory.kind in self.fail_kinds:
            raise MemoryBudgetError("too long for the memory: use beta 16 or more")
        return FakeRag(self, context), {
            "dir": f"stores/{example.id}",
            "built": True,
            "seconds": 1.0,
            "memorize_s": 2.0 if memory.kind == "kv" else 0.5,
        }

    def release(self) -> None:
        self.opened.append(("released", ""))


def _settings(out: Path, **changes: Any) -> EvalSettings:
    return EvalSettings(out=out, **{"progress": False, **changes})


def _lines(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / PREDICTIONS).read_text(encoding="utf-8").splitlines()]


def test_a_second_run_answers_nothing_new_and_reports_the_same(tmp_path: Path):
    first = FakeStores()
    summary = run_eval(EXAMPLES, METHODS, _settings(tmp_path), first)
    assert len(first.asked) == 8 and len(_lines(tmp_path)) == 8
    written = (tmp_path / PREDICTIONS).read_bytes()
    second = FakeStores()
    again = run_eval(EXAMPLES, METHODS, _settings(tmp_path), second)
    assert second.asked == [] and second.opened == []
    assert (tmp_path / PREDICTIONS).read_bytes() == written
    assert again["results"] == summary["results"] and again["average"] == summary["average"]
    assert (tmp_path / "table.md").is_file() and (tmp_path / "summary.json").is_file()


def test_rows_hold_prediction_scores_clues_evidence_and_timings(tmp_path: Path):
    run_eval(EXAMPLES[:1], METHODS, _settings(tmp_path), FakeStores())
    rag_row, memorag_row = _lines(tmp_path)
    assert (rag_row["method"], rag_row["score"], rag_row["answer_in_evidence"]) == ("rag", 0.0, 1.0)
    assert (memorag_row["method"], memorag_row["prediction"], memorag_row["score"]) == ("memorag", "111", 1.0)
    assert memorag_row["exact_match"] == 1.0 and memorag_row["metric"] == "qa_f1"
    assert memorag_row["evidence"] == [{"chunk_id": 0, "doc_id": 0, "start": 0, "end": 41, "score": 0.5,
                                       "judge_score": None, "queries": []}]
    assert memorag_row["timings"] == {"retrieve": 0.01, "generate": 0.1} and memorag_row["wall_s"] >= 0
    assert memorag_row["store"]["memorize_s"] == 2.0 and memorag_row["error"] is None


def test_a_run_killed_midway_resumes_from_what_was_written(tmp_path: Path):
    kept = {
        "id": "hotpotqa-1",
        "task": "hotpotqa",
        "method": "rag",
        "prediction": "kept",
        "answers": ["111"],
        "metric": "qa_f1",
        "score": 0.0,
        "timings": {},
        "wall_s": 1.0,
        "store": None,
        "error": None,
    }
    cut = json.dumps({**kept, "method": "memorag"})[:40]  # a line a kill cut short, with no newline
    (tmp_path / PREDICTIONS).write_text(json.dumps(kept) + "\n" + cut, encoding="utf-8")
    stores = FakeStores()
    run_eval(EXAMPLES, METHODS, _settings(tmp_path), stores)
    rows = _lines(tmp_path)
    assert len(stores.asked) == 7 and len(rows) == 8
    assert rows[0]["prediction"] == "kept"
    assert len({(r["task"], r["id"], r["method"]) for r in rows}) == 8


def test_ctrl_c_keeps_every_finished_answer_and_writes_their_summary(tmp_path: Path):
    with pytest.raises(KeyboardInterrupt):
        run_eval(EXAMPLES, METHODS, _settings(tmp_path), FakeStores(interrupt_at=3))
    assert len(_lines(tmp_path)) == 2
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["results"]["hotpotqa"]["memorag"]["n"] == 1
    stores = FakeStores()
    run_eval(EXAMPLES, METHODS, _settings(tmp_path), stores)
    assert len(stores.asked) == 6 and len(_lines(tmp_path)) == 8


def test_a_failing_store_becomes_an_error_row_scored_zero(tmp_path: Path):
    summary = run_eval(EXAMPLES[:2], METHODS, _settings(tmp_path), FakeStores(fail_kinds=("kv",)))
    failed = [row for row in _lines(tmp_path) if row["method"] == "memorag"]
    assert all(row["score"] == 0.0 and "MemoryBudgetError: too long" in row["error"] for row in failed)
    assert summary["results"]["hotpotqa"]["memorag"]["errors"] == 2


def test_an_empty_question_becomes_an_error_row(tmp_path: Path):
    stores = FakeStores(ask_error=ValueError("the question is empty"))
    run_eval(EXAMPLES[:1], METHODS, _settings(tmp_path), stores)
    assert [row["error"] for row in _lines(tmp_path)] == ["ValueError: the question is empty"] * 2


def test_other_settings_in_the_same_folder_are_refused(tmp_path: Path):
    run_eval(EXAMPLES[:1], METHODS, _settings(tmp_path), FakeStores())
    with pytest.raises(EvalSettingsError, match="top_k"):
        run_eval(EXAMPLES[:1], METHODS, _settings(tmp_path, top_k=5), FakeStores())
    run_eval(
        EXAMPLES[:1], METHODS, _settings(tmp_path, progress=True), FakeStores()
    )  # display is not a setting


def test_summary_covers_the_requested_selection_only(tmp_path: Path):
    run_eval(EXAMPLES, METHODS, _settings(tmp_path), FakeStores())
    summary = run_eval(EXAMPLES[:1], parse_methods("memorag"), _settings(tmp_path), FakeStores())
    assert summary["methods"] == ["memorag"] and summary["tasks"] == ["hotpotqa"]
    assert summary["results"]["hotpotqa"]["memorag"]["n"] == 1


# ----- summary and table from hand-made rows ---------------------------------------------------------------
def _row(task: str, method: str, score: float, **fields: Any) -> dict[str, Any]:
    row = {
        "task": task,
        "method": method,
        "score": score,
        "metric": "qa_f1",
        "exact_match": score,
        "answer_in_evidence": None,
        "evidence_recall": None,
        "evidence_chars": 0,
        "timings": {"generate": 1.0},
        "wall_s": 1.0,
        "store": {"memorize_s": 4.0},
        "error": None,
    }
    return {**row, **fields}


ROWS = [
    _row("hotpotqa", "full", 0.5, timings={"generate": 3.0}, wall_s=3.0),
    _row("hotpotqa", "full", 0.0, timings={"generate": 5.0}, wall_s=5.0),
    _row(
        "hotpotqa",
        "memorag",
        1.0,
        answer_in_evidence=1.0,
        answer_recall={"3": 0.0, "5": 1.0},
        evidence_chars=900,
        timings={"recall": 2.0, "retrieve": 0.5, "generate": 1.0},
        wall_s=3.5,
    ),
    _row(
        "hotpotqa",
        "memorag",
        0.5,
        answer_in_evidence=0.0,
        answer_recall={"3": 0.0, "5": 0.0},
        evidence_chars=700,
        timings={"recall": 4.0, "retrieve": 0.5, "generate": 1.0},
        wall_s=5.5,
    ),
    _row("news", "full", 0.2, metric="rouge_l", exact_match=None),
    _row("news", "memorag", 0.1, metric="rouge_l", exact_match=None, error="GenerationError: boom"),
]


def test_summary_means_per_task_and_method_with_the_average_over_tasks():
    summary = build_summary(ROWS, ["full", "memorag"])
    assert summary["tasks"] == ["hotpotqa", "news"]
    cell = summary["results"]["hotpotqa"]["memorag"]
    assert (cell["n"], cell["score"], cell["exact_match"], cell["answer_in_evidence"]) == (
        2,
        75.0,
        75.0,
        50.0,
    )
    assert cell["stages"] == {"recall": 3.0, "retrieve": 0.5, "generate": 1.0}
    assert (cell["answer_s"], cell["memorize_s"], cell["evidence_chars"]) == (4.5, 4.0, 800.0)
    full = summary["results"]["hotpotqa"]["full"]
    assert (full["score"], full["answer_s"], full["memorize_s"], full["answer_in_evidence"]) == (
        25.0,
        4.0,
        None,
        None,
    )
    news = summary["results"]["news"]["memorag"]
    assert (news["errors"], news["score"], news["metric"]) == (1, 10.0, "rouge_l")
    assert summary["average"]["full"]["score"] == pytest.approx((25.0 + 20.0) / 2)  # over tasks, not rows
    assert summary["average"]["memorag"]["score"] == pytest.approx((75.0 + 10.0) / 2)
    assert summary["average"]["memorag"]["errors"] == 1 and summary["average"]["memorag"]["tasks"] == 2


def test_markdown_table_has_a_row_per_task_an_average_and_a_cost_table():
    table = markdown_table(build_summary(ROWS, ["full", "memorag", "hyde"]))
    lines = table.splitlines()
    assert lines[0] == "| task | metric | n | full | memorag |"  # hyde has no rows: no column
    assert lines[2] == "| hotpotqa | F1 | 2 | 25.00 | 75.00 |"
    assert lines[3] == "| news | ROUGE-L | 1 | 20.00 | 10.00 |"
    assert lines[4] == "| **average** | | 2 tasks | 22.50 | 42.50 |"
    assert lines[6].startswith(
        "| method | answer R@3 % | answer R@5 % | answer in evidence % | supported % | evidence chars | memorize s | answer s |"
    )
    assert "recall s" in lines[6] and lines[6].endswith("| errors |")
    assert lines[8].startswith("| full | – | – | – | – | 0 | – | 3.0 |")
    assert lines[9].startswith("| memorag | 0.0 | 50.0 | 50.0 | – | 800 | 4.0 | 4.5 |") and lines[9].endswith("| 1 |")


class RankedRetriever:
    """Six chunks, the answer in the last: the question ranks it sixth, the clue "vault ledger" first."""

    def __init__(self) -> None:
        texts = [f"Filler passage {i}." for i in range(5)] + ["The ledger says the code is 777."]
        self.chunks = [Chunk(i, 0, "doc", 20 * i, 20 * i + len(t), t) for i, t in enumerate(texts)]

    def search(
        self, queries: list[str], top_k: int, retriever: str | None = None
    ) -> list[tuple[str, list[tuple[int, float]]]]:
        ranked = {"vault ledger": [5]}
        return [(q, [(cid, 1.0 - rank / 10) for rank, cid in enumerate(ranked.get(q, range(6)))]) for q in queries]


def test_answer_recall_ranks_the_methods_queries_by_fused_rank():
    example = EvalExample("x", "What is the code?", "ctx", ("777",), "musique", 1)
    alone = answer_recall(RankedRetriever(), example, Answer(example.question, "", "rag"))
    assert alone == {"3": 0.0, "5": 0.0}  # sixth for the question alone
    clued = Answer(example.question, "", "memorag", (Clue("vault ledger", "span"),))
    assert answer_recall(RankedRetriever(), example, clued) == {"3": 1.0, "5": 1.0}


def test_the_judged_pool_is_recorded_in_the_retrievers_order_with_what_bears_the_answer():
    example = EvalExample("x", "What is the code?", "ctx", ("777",), "musique", 1)
    bearing = answer_bearing([chunk.text for chunk in RankedRetriever().chunks], example.answers)
    judged = Answer(example.question, "", "memorag", ranking=(5, 0), pool=((0, -2.5), (5, -1.25)))
    assert judged_pool(judged, bearing) == [[0, -2.5, 0], [5, -1.25, 1]]
    assert judged_pool(Answer(example.question, "", "rag"), bearing) is None


def test_rows_record_answer_recall_and_the_summary_its_mean(tmp_path: Path):
    run_eval(EXAMPLES[:1], parse_methods("rag,memorag"), _settings(tmp_path), FakeStores())
    rows = _lines(tmp_path)
    assert [row["answer_recall"] for row in rows] == [{"3": 1.0, "5": 1.0}] * 2
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["average"]["rag"]["answer_recall@3"] == 100.0


# ----- examples, metrics, stores ---------------------------------------------------------------------------
def _write_task(path: Path, count: int) -> Path:
    rows = [
        {
            "input": f"q{i}?",
            "context": f"context {i}",
            "answers": [f"a{i}"],
            "_id": f"{path.stem}{i}",
            "dataset": path.stem,
        }
        for i in range(count)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_examples_from_a_folder_are_sampled_per_task_and_picked_by_id(tmp_path: Path):
    _write_task(tmp_path / "hotpotqa.jsonl", 5)
    _write_task(tmp_path / "multi_news.jsonl", 3)
    sampled = load_examples(tmp_path, limit=2, seed=1)
    assert [e.task for e in sampled] == ["hotpotqa", "hotpotqa", "multi_news", "multi_news"]
    assert sampled == load_examples(tmp_path, limit=2, seed=1)
    picked = load_examples(tmp_path, ids=["multi_news2", "hotpotqa4"])
    assert [e.id for e in picked] == ["hotpotqa4", "multi_news2"]
    with pytest.raises(DatasetFormatError, match="nope"):
        load_examples(tmp_path, ids=["nope"])
    with pytest.raises(ValueError, match="either --data"):
        load_examples(tmp_path, corpus=tmp_path)


def test_examples_from_a_users_corpus(tmp_path: Path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "vault.txt").write_text("The vault code is 4512.", encoding="utf-8")
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"question": "What is the vault code?", "answers": ["4512"]}) + "\n")
    [example] = load_examples(corpus=docs, questions=questions)
    assert (example.id, example.task, metric_of(example)) == ("q1", "corpus_qa", "qa_f1")


def test_metric_by_task_name_then_dataset_field_then_refused():
    assert metric_of(_example("multi_news", 1)) == "rouge_l"
    assert metric_of(_example("my_file", 1, dataset="hotpotqa")) == "qa_f1"
    assert metric_of(_example("my_file", 1), "exact_match") == "exact_match"
    with pytest.raises(UnknownTaskError):
        metric_of(_example("my_file", 1))


def test_answer_budget_follows_longbench_per_task_unless_overridden():
    assert answer_budget(_example("hotpotqa", 1), "qa_f1") == 32
    assert answer_budget(_example("hotpotqa_e", 1), "qa_f1") == 32
    assert answer_budget(_example("my_file", 1, dataset="narrativeqa"), "qa_f1") == 128
    assert answer_budget(_example("financial_qa", 1), "qa_f1") == 64
    assert answer_budget(_example("news_summ", 1), "rouge_l") == 256
    assert answer_budget(_example("hotpotqa", 1), "qa_f1", override=10) == 10


def test_gold_evidence_in_the_data_gives_evidence_recall():
    example = _example("hotpotqa", 1, evidence=["code of vault 1", "a sentence not retrieved"])
    chunk = Chunk(0, 0, "doc", 0, len(example.context), example.context)
    answer = Answer(example.question, "111", "rag", (), (EvidencePassage(chunk, 0.5),))
    assert evidence_scores(example, answer, retrieved=True, summary=False) == {
        "answer_in_evidence": 1.0,
        "evidence_recall": 0.5,
    }
    assert evidence_scores(example, answer, retrieved=False, summary=False) == {
        "answer_in_evidence": None,
        "evidence_recall": None,
    }


def test_store_dirs_differ_by_memory_settings_and_text_but_not_question_device_or_top_k(tmp_path: Path):
    example, retrieval = EXAMPLES[0], RetrievalConfig()
    base = store_dir(tmp_path, example, "text", MemoryConfig(), retrieval)
    assert base.parent == tmp_path / "stores" / "hotpotqa"
    other_question = EvalExample("another-id", "Another question?", "text", ("a",), "hotpotqa", 1)
    assert base == store_dir(tmp_path, other_question, "text", MemoryConfig(), retrieval)  # one store per context
    assert base == store_dir(tmp_path, example, "text", MemoryConfig(device="cuda"), retrieval)
    assert base == store_dir(tmp_path, example, "text", MemoryConfig(), RetrievalConfig(top_k=8))
    assert base != store_dir(tmp_path, example, "text", MemoryConfig(beta=16), retrieval)
    assert base != store_dir(tmp_path, example, "other text", MemoryConfig(), retrieval)
    assert base != store_dir(tmp_path, example, "text", MemoryConfig(), RetrievalConfig(chunk_tokens=100))


def test_a_controls_answer_recall_follows_its_own_order():
    example = EvalExample("x", "What is the code?", "ctx", ("777",), "musique", 1)
    answer = Answer(example.question, "", "recency")
    assert answer_recall(RankedRetriever(), example, answer, control="recency") == {"3": 1.0, "5": 1.0}  # last chunk


def test_stores_stay_open_while_the_next_question_reads_the_same_context(tmp_path: Path):
    shared = [EvalExample(f"q{n}", f"Question {n}?", "The code is 555.", ("555",), "multidoc_qa", 4) for n in range(2)]
    last = EvalExample("q2", "Question 2?", "The code is 777.", ("777",), "multidoc_qa", 4)
    stores = FakeStores()
    run_eval([*shared, last], parse_methods("memorag"), _settings(tmp_path), stores)
    assert stores.opened == [("q0", "kv"), ("q1", "kv"), ("released", ""), ("q2", "kv"), ("released", "")]


def test_a_retrieval_only_run_asks_for_no_answer_and_scores_none(tmp_path: Path):
    stores = FakeStores()
    summary = run_eval(EXAMPLES[:2], METHODS, _settings(tmp_path, answers=False), stores)
    assert stores.budgets == [0, 0, 0, 0]
    rows = _lines(tmp_path)
    assert all(row["score"] is None and row["exact_match"] is None for row in rows)
    assert all(row["answer_recall"] is not None for row in rows)  # retrieval is still measured
    assert summary["results"]["hotpotqa"]["memorag"]["score"] is None
    assert json.loads((tmp_path / "run.json").read_text())["answers"] is False
    with pytest.raises(EvalSettingsError):  # answered and unanswered runs never share a folder
        run_eval(EXAMPLES[:2], METHODS, _settings(tmp_path), FakeStores())
    run_eval(EXAMPLES[:1], METHODS, _settings(tmp_path / "answered"), FakeStores())
    assert "answers" not in json.loads((tmp_path / "answered" / "run.json").read_text())  # as before the option


def test_a_failed_row_of_a_retrieval_only_run_has_no_score_either(tmp_path: Path):
    run_eval(EXAMPLES[:1], METHODS, _settings(tmp_path, answers=False), FakeStores(fail_kinds=("kv",)))
    failed = [row for row in _lines(tmp_path) if row["error"]]
    assert len(failed) == 1 and failed[0]["score"] is None and "beta 16" in failed[0]["error"]


def test_an_out_folder_that_is_not_an_eval_run_is_refused_untouched(tmp_path: Path):
    from memorag.errors import NotOursError

    (tmp_path / "thesis.txt").write_text("years of work")
    stores = FakeStores()
    with pytest.raises(NotOursError, match="not an eval run folder"):
        run_eval(EXAMPLES, METHODS, _settings(tmp_path), stores)
    assert [p.name for p in tmp_path.iterdir()] == ["thesis.txt"] and stores.asked == []
