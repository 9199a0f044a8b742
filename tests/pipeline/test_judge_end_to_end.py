"""The default memorag on the real embedded models: the memory model judges a pool and hands over top_k."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from memorag.cli import cli
from memorag.config import JudgeConfig, MemoryConfig, RetrievalConfig
from memorag.pipeline import MemoRAG

pytestmark = pytest.mark.slow

QUESTION = "What colour is the roof of the lighthouse at Kessock?"
PLANTED = "The keepers painted it bright red in 1910, and it has stayed red ever since, the only red roof on the firth."
DISTRACTORS = [
    "The lighthouse at Kessock stands on a rock at the mouth of the firth and was built of grey granite.",
    "Visitors to the Kessock lighthouse climb its spiral stair of ninety steps to the lamp room at the top.",
    "The roof of the old ferry house near the Kessock lighthouse was replaced after a winter storm.",
    "A small museum beside the lighthouse at Kessock tells the story of the ships wrecked on the rocks.",
    "The lighthouse keepers at Kessock kept a log of every ship that passed the light each night.",
    "Kessock village has a harbour, two inns and a church with a tall stone tower beside the lighthouse road.",
    "Guides at the lighthouse at Kessock say the colour of its roof is what visitors ask about most.",
    "Paintings of the lighthouse at Kessock hang in the village hall, showing the tower and its roof at dusk.",
    "The roof of the lighthouse at Kessock was inspected in spring, and the colour scheme of the tower noted.",
]


def text() -> str:
    about = "The lighthouse at Kessock has a round tower and a domed roof over its lamp room. "
    return "\n\n".join([*DISTRACTORS[:3], about + PLANTED, *DISTRACTORS[3:]])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("judge") / "store"
    rag = MemoRAG(MemoryConfig(kind="none"), RetrievalConfig(chunk_tokens=40, chunk_overlap=0))
    rag.memorize(text(), store=path)
    return path


def test_the_judge_hands_over_a_fact_dense_retrieval_ranks_below_look_alikes(store: Path) -> None:
    rag = MemoRAG.load(store)
    ranked = [cid for cid, _ in rag.retriever.search([QUESTION], 10, "dense")[0][1]]
    planted = next(c.chunk_id for c in rag.retriever.chunks if "bright red" in c.text)
    assert planted not in ranked[:3]  # the look-alikes win on similarity
    plain = rag.ask(QUESTION, mode="rag", max_new_tokens=0)
    assert all("bright red" not in p.text for p in plain.evidence)
    judged = rag.ask(QUESTION, mode="memorag", recall="none", max_new_tokens=0)
    assert len(judged.evidence) == 3 and any("bright red" in p.text for p in judged.evidence)
    assert judged.judge == "smollm2" and planted in judged.ranking[:3]
    assert all(p.judge_score is not None and p.queries == (QUESTION,) for p in judged.evidence)
    scored = dict(judged.pool)  # the whole pool, in the retriever's order, with the scores the ranking follows
    assert sorted(scored) == sorted(judged.ranking) and [c for c, _ in judged.pool] != list(judged.ranking)
    assert all(scored[p.chunk.chunk_id] == p.judge_score for p in judged.evidence)
    quoted = rag.ask(QUESTION, mode="memorag", recall="none", answer="quote")
    sentence, number = quoted.answer.rsplit(" [", 1)
    assert sentence.strip('"') in quoted.evidence[int(number.rstrip("]")) - 1].text  # verbatim, cited
    assert "generate" not in quoted.timings and quoted.timings["quote"] > 0


def test_another_judge_model_and_the_paper_reading(store: Path) -> None:
    rag = MemoRAG.load(store, judge=JudgeConfig(model="none"))
    union = rag.ask(QUESTION, mode="memorag", recall="none", max_new_tokens=0)
    assert union.judge is None and union.ranking == () and len(union.evidence) == 3


def test_ask_json_shows_queries_and_judge_scores(store: Path) -> None:
    result = CliRunner().invoke(cli, ["ask", str(store), QUESTION, "--recall", "none", "--max-new-tokens", "0",
                                      "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["judge"] == "smollm2" and len(data["evidence"]) == 3
    assert all(e["judge_score"] is not None and e["queries"] == [QUESTION] for e in data["evidence"])
    bad = CliRunner().invoke(cli, ["ask", str(store), QUESTION, "--pool", "0"])
    assert bad.exit_code != 0 and "pool" in bad.output
