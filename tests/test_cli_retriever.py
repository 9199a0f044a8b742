"""`--retriever`: memorize records it in the store's retrieval config; ask and recall override it for one call.

A fake MemoRAG stands in for the pipeline, so no model loads."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner

import memorag.pipeline
from memorag.cli import cli
from memorag.config import RetrievalConfig, config_from_dict, config_to_dict
from memorag.types import Answer


class FakeRAG:
    """Records the configs it is made or loaded with; answers without models."""

    made: ClassVar[list[FakeRAG]] = []

    def __init__(
        self, memory_config: Any = None, retrieval_config: Any = None, *args: Any, **kwargs: Any
    ) -> None:
        self.retrieval_config = retrieval_config or RetrievalConfig()
        self.retriever = SimpleNamespace(config=self.retrieval_config, chunks=[])
        self.skipped_inputs: list[Any] = []
        self.memory = SimpleNamespace(
            describe=lambda: {"tokens_read": 1, "kind": "kv", "entries": 1, "beta": 1}
        )
        FakeRAG.made.append(self)

    @classmethod
    def load(cls, store: Any, *args: Any, **kwargs: Any) -> FakeRAG:
        return cls(None, RetrievalConfig(retriever=kwargs.get("retriever") or "bm25"))  # as MemoRAG.load does

    def memorize(self, *args: Any, **kwargs: Any) -> dict[str, float]:
        return {"memorize": 0.0}

    def ask(self, question: str, **kwargs: Any) -> Answer:
        return Answer(question, self.retriever.config.retriever, kwargs.get("mode", "memorag"))

    def recall(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []


@pytest.fixture
def fake_rag(monkeypatch: pytest.MonkeyPatch) -> type[FakeRAG]:
    FakeRAG.made = []
    monkeypatch.setattr(memorag.pipeline, "MemoRAG", FakeRAG)
    return FakeRAG


def test_memorize_records_the_retriever(fake_rag: type[FakeRAG], tmp_path: Path) -> None:
    source = tmp_path / "notes.txt"
    source.write_text("Grace Hopper created the A-0 System.", encoding="utf-8")
    args = ["memorize", str(source), "--store", str(tmp_path / "store"), "--json"]
    result = CliRunner().invoke(cli, [*args, "--retriever", "bm25", "--bm25-weight", "2"])
    assert result.exit_code == 0, result.output
    config = fake_rag.made[-1].retrieval_config
    assert (config.retriever, config.bm25_weight) == ("bm25", 2.0)
    assert CliRunner().invoke(cli, args).exit_code == 0
    assert fake_rag.made[-1].retrieval_config.retriever == "hybrid"  # the default
    assert CliRunner().invoke(cli, [*args, "--retriever", "sparse"]).exit_code == 2


def test_ask_and_recall_override_the_stores_retriever(fake_rag: type[FakeRAG], tmp_path: Path) -> None:
    ask = ["ask", str(tmp_path), "Who?", "--mode", "rag", "--json"]
    stored = CliRunner().invoke(cli, ask)
    assert stored.exit_code == 0, stored.output
    assert json.loads(stored.stdout)["answer"] == "bm25"  # the store's
    assert json.loads(CliRunner().invoke(cli, [*ask, "--retriever", "hybrid"]).stdout)["answer"] == "hybrid"
    recalled = CliRunner().invoke(cli, ["recall", str(tmp_path), "Who?", "--retriever", "dense", "--json"])
    assert recalled.exit_code == 0, recalled.output
    assert fake_rag.made[-1].retriever.config.retriever == "dense"


def test_the_manifest_keeps_the_retriever_and_old_manifests_read_with_the_default() -> None:
    saved = config_to_dict(RetrievalConfig(retriever="hybrid", bm25_weight=0.5))
    assert config_from_dict(RetrievalConfig, saved) == RetrievalConfig(retriever="hybrid", bm25_weight=0.5)
    before = {k: v for k, v in saved.items() if k not in ("retriever", "bm25_weight", "language")}
    assert config_from_dict(RetrievalConfig, before).retriever == RetrievalConfig().retriever == "hybrid"
