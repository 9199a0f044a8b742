"""retriever="hybrid" end to end on the embedded MiniLM: memorize, retrieve, save, load, retrieve the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from memorag.config import RetrievalConfig
from memorag.pipeline import MemoRAG

pytestmark = pytest.mark.slow

PLANTED = "The vault of the Halvorsen archive opens with the code QX-4471."
DISTRACTORS = [
    "The Halvorsen archive keeps letters written by the family between 1820 and 1910.",
    "Visitors to the archive must register at the front desk and leave their bags in a locker.",
    "The reading room of the archive is open on weekdays from nine until five.",
    "A fire in 1932 destroyed part of the archive, and many maps were lost.",
    "The family's shipping business traded timber and salted fish along the northern coast.",
]


def test_hybrid_retrieval_survives_a_store_round_trip(tmp_path: Path) -> None:
    text = "\n\n".join([*DISTRACTORS[:3], PLANTED, *DISTRACTORS[3:]])
    rag = MemoRAG(retrieval=RetrievalConfig(retriever="hybrid", chunk_tokens=24, chunk_overlap=0))
    rag.memorize(text, store=tmp_path / "store")
    question = "Which code opens the vault of the Halvorsen archive?"
    evidence = rag.ask(question, mode="rag", max_new_tokens=0).evidence
    assert len(evidence) == 3 and any("QX-4471" in passage.text for passage in evidence)
    loaded = MemoRAG.load(tmp_path / "store")
    assert loaded.retrieval_config.retriever == "hybrid"
    assert len(loaded.retriever.lexical) == len(loaded.retriever.chunks) > 3
    assert loaded.ask(question, mode="rag", max_new_tokens=0).evidence == evidence
