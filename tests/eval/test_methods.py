"""Method specs, HyDE's queries and the summary path, on fakes (no weights)."""

from __future__ import annotations

import pytest

from memorag.config import MemoryConfig
from memorag.eval.methods import (
    HYPOTHESIS_TOKENS,
    MethodSpec,
    control_order,
    hyde_messages,
    hyde_queries,
    parse_method,
    parse_methods,
    run_method,
    split_specs,
)
from memorag.types import Answer, Chunk, Clue, Document, EvidencePassage


class FakeGenerator:
    """Returns canned texts in turn and records every prompt."""

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.calls: list[tuple[list[dict[str, str]], int]] = []

    def generate(
        self, messages: list[dict[str, str]], *, max_new_tokens: int = 128, temperature: float = 0.0
    ) -> str:
        self.calls.append((messages, max_new_tokens))
        return self.replies.pop(0)


class FakeRetriever:
    def __init__(self) -> None:
        self.queries: list[list[str]] = []

    def retrieve(
        self, queries: list[str], top_k: int | None = None, retriever: str | None = None
    ) -> list[EvidencePassage]:
        self.queries.append(list(queries))
        chunk = Chunk(chunk_id=7, doc_id=0, source="doc", start=10, end=29, text="The vault code is 4.")
        return [EvidencePassage(chunk, 0.9, tuple(queries))]


class FakeMemory:
    def summarize(self, count: int = 5) -> list[Clue]:
        return [Clue("point one of the text", "keypoint"), Clue("point two of the text", "keypoint")]


class FakeRag:
    def __init__(self, *replies: str) -> None:
        self.generator = FakeGenerator(*replies)
        self.retriever = FakeRetriever()
        self.memory = FakeMemory()
        self.documents = [Document("a", "first document"), Document("b", "second document")]
        self.asked: list[tuple[str, str, int | None, int | None]] = []
        self.strategies: list[str] = []

    def ask(
        self,
        question: str,
        mode: str = "memorag",
        top_k: int | None = None,
        max_new_tokens: int | None = None,
        recall: str = "generate",
        retriever: str | None = None,
        judge: object = None,
        answer: str = "generate",
    ) -> Answer:
        self.asked.append((question, mode, top_k, max_new_tokens))
        self.strategies.append(recall)
        self.judges = [*getattr(self, "judges", []), (retriever, judge, answer)]
        return Answer(question, "asked", mode)


# ----- specs -------------------------------------------------------------------------------------------------
def test_plain_methods_parse_to_their_names():
    assert [m.label for m in parse_methods("full, rag,hyde ,memorag")] == ["full", "rag", "hyde", "memorag"]


def test_memorag_settings_parse_typed_and_sorted_into_a_canonical_label():
    spec = parse_method("memorag:compressor=mean,beta=16")
    assert spec == MethodSpec("memorag", (("beta", 16), ("compressor", "mean")))
    assert spec.label == "memorag:beta=16,compressor=mean"
    assert parse_method(spec.label) == spec  # the label reads back as the same method
    assert parse_method("memorag:kind=gist").memory == (("kind", "gist"),)
    assert parse_method("memorag:beta=auto").memory == (("beta", None),)


def test_retriever_judge_and_answer_settings_parse_into_a_canonical_label():
    spec = parse_method("memorag:recall=none,retriever=hybrid,pool=40,judge=gemma3-270m,kind=none")
    assert spec.retriever == "hybrid" and spec.recall == "none" and spec.memory == (("kind", "none"),)
    assert spec.judge_config().model == "gemma3-270m" and spec.judge_config().pool == 40
    assert spec.label == "memorag:judge=gemma3-270m,kind=none,pool=40,recall=none,retriever=hybrid"
    assert parse_method(spec.label) == spec
    assert parse_method("rag:retriever=bm25").retriever == "bm25"
    assert parse_method("rag:answer=quote").answer == "quote"
    assert not parse_method("memorag:judge=none").judge_config().enabled
    assert parse_method("memorag").judge_config().model == "memory"  # the default judge


def test_settings_after_a_comma_stay_with_their_method():
    assert split_specs("full,memorag:compressor=mean,beta=16,rag") == [
        "full",
        "memorag:compressor=mean,beta=16",
        "rag",
    ]
    labels = [m.label for m in parse_methods("rag,memorag,memorag:kind=gist,memorag:beta=8,window=1024")]
    assert labels == ["rag", "memorag", "memorag:kind=gist", "memorag:beta=8,window=1024"]


def test_duplicate_methods_are_dropped_in_order():
    assert [m.label for m in parse_methods(["rag,memorag", "rag"])] == ["rag", "memorag"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("bm25", "unknown method"),
        ("rag:beta=4", "takes only retriever"),
        ("full:retriever=bm25", "full takes no settings"),
        ("rag:retriever=sparse", "choose one of dense"),
        ("memorag:pool=0", "pool must be at least 1"),
        ("memorag:judge_context=all", "judge context must be one of"),
        ("memorag:answer=essay", "choose generate or quote"),
        ("memorag:colour=red", "not a memory setting"),
        ("memorag:device=cuda", "not a memory setting"),
        ("memorag:beta", "not a memory setting"),
        ("memorag:beta=3", "beta must be one of"),
        ("memorag:beta=many", "beta takes an integer or auto"),
        ("memorag:window=big", "window takes int"),
        ("memorag:kind=paper", "memory kind must be one of"),
        ("memorag:recall=guess", "not a strategy"),
        ("rag:recall=copy", "takes only retriever"),
        ("", "no method given"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec: str, message: str):
    with pytest.raises(ValueError, match=message):
        parse_methods(spec)


def test_baselines_get_a_memoryless_store_and_memorag_its_overrides():
    base = MemoryConfig(model="smollm2", window=1024)
    for name in ("full", "rag", "hyde"):
        assert MethodSpec(name).memory_config(base).kind == "none"
    variant = parse_method("memorag:compressor=mean,beta=16").memory_config(base)
    assert (variant.kind, variant.beta, variant.compressor, variant.window) == ("kv", 16, "mean", 1024)
    assert parse_method("memorag").memory_config(base) == base


def test_the_recall_strategy_is_part_of_a_memorag_spec_and_its_label():
    spec = parse_method("memorag:recall=copy, beta=8")
    assert (spec.recall, spec.memory, spec.label) == ("copy", (("beta", 8),), "memorag:beta=8,recall=copy")
    assert parse_method(spec.label) == spec  # the label parses back to the same spec
    assert parse_method("memorag:recall=generate") == MethodSpec("memorag")  # the default is not spelled
    assert [m.label for m in parse_methods("memorag,memorag:recall=attention")] == [
        "memorag",
        "memorag:recall=attention",
    ]
    assert spec.memory_config(MemoryConfig()).beta == 8  # recall is not a memory setting


def test_run_method_asks_with_the_specs_strategy():
    rag = FakeRag()
    run_method(rag, parse_method("memorag:recall=multihop"), "Who?", summary=False, top_k=3, max_new_tokens=8)
    run_method(rag, MethodSpec("rag"), "Who?", summary=False, top_k=3, max_new_tokens=8)
    assert rag.strategies == ["multihop", "generate"]


# ----- running ----------------------------------------------------------------------------------------------
def test_hyde_writes_its_passage_without_context_and_joins_the_question():
    generator = FakeGenerator("The vault code is four, set by the bank in 1990.")
    queries = hyde_queries(generator, "What is the vault code?", max_new_tokens=40)
    assert queries == ["What is the vault code?", "The vault code is four, set by the bank in 1990."]
    messages, budget = generator.calls[0]
    assert budget == 40
    assert "What is the vault code?" in messages[-1]["content"]
    assert "Passages" not in messages[-1]["content"]  # no context reaches the hypothesis
    assert hyde_queries(FakeGenerator("  "), "Why?", 10) == ["Why?"]  # nothing written: the question alone
    assert "summary" in hyde_messages("Summarize the reports.", summary=True)[-1]["content"]


def test_hyde_answers_from_the_evidence_its_queries_retrieved():
    rag = FakeRag("A hypothetical passage about the vault.", "4")
    answer = run_method(
        rag,
        MethodSpec("hyde"),
        "What is the vault code?",
        summary=False,
        top_k=3,
        max_new_tokens=32,
        hypothesis_tokens=100,
    )
    assert rag.generator.calls[0][1] == 100  # the passage is a query: a clue's budget, not the answer's
    assert rag.retriever.queries == [["What is the vault code?", "A hypothetical passage about the vault."]]
    assert answer.answer == "4" and answer.evidence[0].chunk.chunk_id == 7
    assert answer.clues == (Clue("A hypothetical passage about the vault.", "hypothesis"),)
    final_prompt, budget = rag.generator.calls[1]
    assert "The vault code is 4." in final_prompt[-1]["content"] and budget == 32
    assert set(answer.timings) == {"hypothesize", "retrieve", "generate"}
    assert not rag.asked


@pytest.mark.parametrize("name", ["full", "rag", "memorag"])
def test_qa_methods_go_through_the_pipelines_ask(name: str):
    rag = FakeRag()
    spec = parse_method(f"{name}:beta=8") if name == "memorag" else MethodSpec(name)
    run_method(rag, spec, "Who?", summary=False, top_k=5, max_new_tokens=20)
    assert rag.asked == [("Who?", name, 5, 20)]


def test_summaries_full_reads_every_document_and_memorag_retrieves_with_key_points():
    rag = FakeRag("a summary")
    answer = run_method(rag, MethodSpec("full"), "", summary=True, top_k=3, max_new_tokens=200)
    prompt = rag.generator.calls[0][0][-1]["content"]
    assert "first document" in prompt and "second document" in prompt and "Summarize the text." in prompt
    assert not answer.evidence and not rag.retriever.queries

    rag = FakeRag("a summary")
    answer = run_method(
        rag, MethodSpec("memorag"), "Summarize the news.", summary=True, top_k=3, max_new_tokens=200
    )
    assert rag.retriever.queries == [
        ["Summarize the news.", "point one of the text", "point two of the text"]
    ]
    assert [c.kind for c in answer.clues] == ["keypoint", "keypoint"] and answer.mode == "memorag"
    assert "The vault code is 4." in rag.generator.calls[0][0][-1]["content"]

    rag = FakeRag("a summary")
    run_method(rag, MethodSpec("rag"), "Summarize the news.", summary=True, top_k=3, max_new_tokens=200)
    assert rag.retriever.queries == [["Summarize the news."]]


# ----- controls ---------------------------------------------------------------------------------------------
def test_control_orders_are_recency_and_a_seeded_shuffle():
    assert control_order("recency", 5, "x") == [4, 3, 2, 1, 0]
    shuffled = control_order("random", 50, "example-1")
    assert sorted(shuffled) == list(range(50)) and shuffled != list(range(50))
    assert control_order("random", 50, "example-1") == shuffled  # the same example, the same order
    assert control_order("random", 50, "example-2") != shuffled
    with pytest.raises(ValueError, match="not a control"):
        control_order("rag", 3, "x")


class ChunkRetriever:
    def __init__(self, count: int) -> None:
        self.chunks = [Chunk(i, 0, "doc", 10 * i, 10 * i + 9, f"passage {i}") for i in range(count)]


@pytest.mark.parametrize("name", ["random", "recency"])
def test_controls_answer_from_chunks_chosen_without_the_question(name: str):
    rag = FakeRag("an answer")
    rag.retriever = ChunkRetriever(8)
    answer = run_method(rag, parse_method(name), "Who?", summary=False, top_k=3, max_new_tokens=8, key="row-1")
    picked = sorted(control_order(name, 8, "row-1")[:3])
    assert [p.chunk.chunk_id for p in answer.evidence] == picked
    assert answer.answer == "an answer" and not rag.asked and not answer.clues
    assert "passage" in rag.generator.calls[0][0][-1]["content"]


@pytest.mark.parametrize("name", ["random", "hyde", "summary"])
def test_a_zero_budget_writes_no_answer_but_keeps_the_evidence(name: str):
    rag = FakeRag("a hypothetical passage")  # HyDE's passage is a query, so it is still written
    if name == "random":
        rag.retriever = ChunkRetriever(8)
    spec = parse_method("rag" if name == "summary" else name)
    answer = run_method(rag, spec, "Who?", summary=name == "summary", top_k=3, max_new_tokens=0, key="row-1")
    assert answer.answer == "" and answer.evidence and "generate" not in answer.timings
    assert [budget for _, budget in rag.generator.calls] == ([HYPOTHESIS_TOKENS] if name == "hyde" else [])
