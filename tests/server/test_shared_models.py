"""The server's stores share one set of models (real embedded models, in this process): two stores opened by the
registry hold the same generator, embedder and memory model objects, and a write hands back a fresh reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from memorag.recall.base import memory_reader
from memorag.server.settings import ServerSettings
from memorag.server.state import ServerState
from memorag.server.stores.serving import PendingText, memorize_work

pytestmark = pytest.mark.slow


def test_two_stores_share_one_generator_embedder_and_memory_model(tmp_path: Path) -> None:
    state = ServerState.open(ServerSettings(tmp_path / "stores"))
    state.warm()
    for name, text in (("a", "The red fox of Arden hunts at dusk."), ("b", "The grey heron of Brill fishes at dawn.")):
        state.stores.create(name)
        result = memorize_work(state.stores, state.slot, name, [PendingText(f"{name}.txt", text)], None)(
            lambda stage, fraction: None)
        assert result["added"] == [f"{name}.txt"] and result["documents"] == 1
    first, second = state.stores.reader("a"), state.stores.reader("b")
    assert first is not second and first.documents != second.documents
    assert first.generator is second.generator is state.models.generator
    assert first.retriever.embedder is second.retriever.embedder
    assert memory_reader(first.memory).model is memory_reader(second.memory).model
    assert state.stores.reader("a") is first  # kept while the store is unchanged

    memorize_work(state.stores, state.slot, "a", [PendingText("c.txt", "The otter of Corran swims.")], None)(
        lambda stage, fraction: None)
    reloaded = state.stores.reader("a")
    assert reloaded is not first and [d.source for d in reloaded.documents] == ["a.txt", "c.txt"]
    assert reloaded.generator is first.generator and reloaded.retriever.embedder is first.retriever.embedder
    state.close()
