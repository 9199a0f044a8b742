"""The pipeline with a memory adapter: the memory reads with the adapted model, the store manifest records the
adapter's fingerprint, and a store is refused with another adapter (or none), like another memory model."""

from __future__ import annotations

import copy

import pytest

from memorag import MemoRAG, MemoryConfig, StoreMismatchError
from memorag.store import check_models
from memorag.training.adapters import LoraSettings, adapter_fingerprint, add_lora, apply_adapter, save_adapter


@pytest.fixture
def adapters(tiny_llama, tmp_path):
    made = []
    for name in ("a", "b"):
        policy = add_lora(copy.deepcopy(tiny_llama[0]), LoraSettings(rank=2, alpha=4))
        made.append(save_adapter(policy, tmp_path / name, "tiny-llama", {"stage": "sft"}))
    return made


def config(adapter=None) -> MemoryConfig:
    return MemoryConfig(model="tiny-llama", beta=2, window=32, reserve=64, adapter=adapter)


def test_memory_adapter_argument_sets_the_config(adapters):
    rag = MemoRAG(config(), memory_adapter=adapters[0])
    assert rag.memory_config.adapter == str(adapters[0])


def test_the_manifest_records_the_adapter_and_refuses_another(adapters):
    with_a = MemoRAG(config(str(adapters[0])))._models()
    assert with_a["memory_adapter"] == {"name": str(adapters[0]), "fingerprint": adapter_fingerprint(adapters[0])}
    with pytest.raises(StoreMismatchError, match="memory_adapter"):
        check_models({"models": with_a}, MemoRAG(config(str(adapters[1])))._models(), adapters[0])
    without = MemoRAG(config())._models()
    assert "memory_adapter" not in without  # stores made before adapters existed load as before
    check_models({"models": without}, without, adapters[0])
    with pytest.raises(StoreMismatchError):
        check_models({"models": without}, with_a, adapters[0])


def test_the_memory_is_built_by_the_adapted_model(adapters, tiny_llama, monkeypatch):
    calls = []

    def fake_loader(name, adapter, device="cpu", dtype="float32"):
        calls.append((name, adapter))
        return apply_adapter(copy.deepcopy(tiny_llama[0]), adapter, name), tiny_llama[1]

    monkeypatch.setattr("memorag.models.load_adapted_lm", fake_loader)
    rag = MemoRAG(config(), memory_adapter=adapters[0])
    assert rag.memory.model is not tiny_llama[0] and calls == [("tiny-llama", str(adapters[0]))]


def test_configs_without_adapter_serialize_as_before_adapters_existed():
    from memorag.config import config_from_dict, config_to_dict

    assert "adapter" not in config_to_dict(MemoryConfig())  # same manifests, run.json and eval store hashes
    with_adapter = MemoryConfig(adapter="runs/adapters/sft")
    assert config_from_dict(MemoryConfig, config_to_dict(with_adapter)) == with_adapter
