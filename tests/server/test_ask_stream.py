"""MemoRAG.ask's streaming hooks on the real embedded models (SmolLM2 via llama.cpp, MiniLM): the evidence comes
first, then the pieces as the generator writes them, and they join to the answer before its citations are
checked; a callback that raises stops the generator and frees it for the next ask."""

from __future__ import annotations

import pytest

from memorag.generation.citations import cite
from memorag.pipeline import MemoRAG

pytestmark = pytest.mark.slow

TEXT = ("The lighthouse of Port Evander has stood on the breakwater since 1871. Its keeper, Mirela Vasquez, paints "
        "the lamp room teal every spring. Ferries to the islands leave from the east quay twice a day. The town "
        "holds a herring festival each August, and its cider press turns by hand every October.")
QUESTION = "Who is the keeper of the lighthouse?"


@pytest.fixture(scope="module")
def rag(tmp_path_factory: pytest.TempPathFactory) -> MemoRAG:
    store = tmp_path_factory.mktemp("stream") / "store"
    MemoRAG().memorize(TEXT, store=store)
    return MemoRAG.load(store)


@pytest.mark.parametrize("mode", ["rag", "memorag"])
def test_evidence_first_then_pieces_that_join_to_the_answer(rag: MemoRAG, mode: str) -> None:
    calls: list[tuple[str, object]] = []
    answer = rag.ask(QUESTION, mode=mode, max_new_tokens=16,
                     on_evidence=lambda evidence: calls.append(("evidence", evidence)),
                     on_text=lambda piece: calls.append(("text", piece)))
    kinds = [kind for kind, _ in calls]
    assert kinds[0] == "evidence" and kinds.count("evidence") == 1
    assert calls[0][1] == answer.evidence and answer.evidence
    pieces = [str(piece) for kind, piece in calls if kind == "text"]
    assert len(pieces) > 1  # written piece by piece, not whole
    joined = "".join(pieces)
    assert cite(joined, answer.evidence, rag.documents).text == answer.answer


def test_the_answer_is_the_same_without_hooks(rag: MemoRAG) -> None:
    plain = rag.ask(QUESTION, mode="rag", max_new_tokens=16)
    streamed = rag.ask(QUESTION, mode="rag", max_new_tokens=16, on_evidence=lambda e: None, on_text=lambda t: None)
    assert (streamed.answer, streamed.evidence, streamed.citations) == (plain.answer, plain.evidence,
                                                                         plain.citations)


def test_a_callback_that_raises_stops_the_generator_and_frees_it(rag: MemoRAG) -> None:
    class Stop(Exception):
        pass

    seen: list[str] = []

    def stop_after_two(piece: str) -> None:
        seen.append(piece)
        if len(seen) == 2:
            raise Stop

    with pytest.raises(Stop):
        rag.ask(QUESTION, mode="rag", max_new_tokens=16, on_text=stop_after_two)
    assert len(seen) == 2
    assert rag.ask(QUESTION, mode="rag", max_new_tokens=4).answer  # the llama.cpp lock was released


def test_retrieve_only_and_memory_mode_call_the_hooks_once(rag: MemoRAG) -> None:
    calls: list[str] = []
    rag.ask(QUESTION, mode="rag", max_new_tokens=0, on_evidence=lambda e: calls.append("evidence"),
            on_text=lambda t: calls.append("text"))
    assert calls == ["evidence"]
    calls.clear()
    answer = rag.ask(QUESTION, mode="memory", max_new_tokens=8, on_evidence=lambda e: calls.append(f"e{len(e)}"),
                     on_text=calls.append)
    assert calls == ["e0", answer.answer]
