"""Every tensor the memory, recall and training code builds follows the model's device (so a CUDA model works).

No GPU runs in CI, so the test makes a device mismatch visible on the CPU: with torch's default device set to
"meta", any tensor created without an explicit device lands on meta and clashes with the CPU model. Memorizing
with every compressor, decoding (greedy and sampled), save and load, every recall strategy, the training forward
and gist memorizing must all run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from recall_helpers import DOCUMENTS, SMALL, WordRetriever, fixed_chunks

from memorag.config import MemoryConfig
from memorag.memory import make_memory
from memorag.memory.decoding import DecodeOptions
from memorag.memory.kv import KVMemory
from memorag.recall import RecallConfig, recall_clues
from memorag.training.memory_forward import EncodedExample, target_logprobs


@pytest.fixture
def meta_default():
    torch.set_default_device("meta")
    try:
        yield
    finally:
        torch.set_default_device("cpu")


def test_the_probe_puts_a_tensor_built_without_a_device_elsewhere(tiny_llama, meta_default):
    model, _ = tiny_llama
    assert torch.arange(3).device.type == "meta" and model.device.type == "cpu"
    assert torch.arange(3, device=model.device).device.type == "cpu"


@pytest.mark.parametrize(("kind", "compressor", "beta"), [("kv", "snapkv", 4), ("kv", "mean", 4), ("kv", "recent", 4),
                                                          ("full", "snapkv", 1)])
def test_memorize_builds_on_the_models_device(tiny_llama, meta_default, kind, compressor, beta):
    model, tokenizer = tiny_llama
    memory = make_memory(MemoryConfig(kind=kind, compressor=compressor, beta=beta, **SMALL), model=model,
                         tokenizer=tokenizer)
    memory.memorize(list(DOCUMENTS))
    assert memory.length > 0


def test_decode_save_load_recall_and_training_follow_the_models_device(tiny_llama, meta_default, tmp_path: Path):
    model, tokenizer = tiny_llama
    memory = make_memory(MemoryConfig(beta=4, **SMALL), model=model, tokenizer=tokenizer)
    memory.memorize(list(DOCUMENTS))
    memory.generate("answer", question="Who keeps the vault code?")
    memory.generate("answer", DecodeOptions(6, temperature=0.8, seed=3), question="Who keeps the vault code?")
    loaded = KVMemory.load(tmp_path, memory.save(tmp_path), memory.config, model, tokenizer)
    assert all(k.device.type == "cpu" for k in loaded.keys)
    retriever = WordRetriever(fixed_chunks(DOCUMENTS))
    for strategy in ("copy", "attention", "multihop"):
        recall_clues(strategy, "Who keeps the vault code?", memory, DOCUMENTS, retriever,
                     RecallConfig(max_hops=2, bridge_tokens=6, beam_width=2))
    assert target_logprobs(model, memory, EncodedExample([5, 6, 7], [8, 9, 1])).shape[-1] == 3
    gist = make_memory(MemoryConfig(kind="gist", gist_tokens=4, gist_chunk_tokens=60, **SMALL), model=model,
                       tokenizer=tokenizer)
    gist.memorize(list(DOCUMENTS))
