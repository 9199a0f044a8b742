"""The memory on a CUDA device in bfloat16 (issue 20): the `gpu` tests run only where CUDA exists (`pytest -m gpu`;
CI has none); the bfloat16 comparison also runs on the CPU.

The tiny random-weight Llama of conftest is copied to CUDA in bfloat16 and memorizes what its float32 CPU self
memorizes: the laid-out memory (keys, values) must agree within bfloat16's tolerance and keep (nearly) the same
source tokens (SnapKV's choice may flip where two attention scores tie within bfloat16's rounding). A model folder
loads with `device="auto"` (accelerate's device_map), and the embedded SmolLM2 memorizes and answers on CUDA.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from memorag.config import MemoryConfig
from memorag.memory.kv import KVMemory
from memorag.types import Document

CUDA = (pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"))


def on_cuda(test: Callable[..., None]) -> Callable[..., None]:
    for mark in CUDA:
        test = mark(test)
    return test

SETTINGS = {"beta": 4, "window": 16, "reserve": 32, "observation": 4, "max_clue_tokens": 6}
DOCUMENTS = [Document("a", "The vault code is kept by the night porter, who writes it in a red book. " * 3),
             Document("b", "Ships leave the harbour at dawn and come back before the evening bell rings. " * 3)]


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=CUDA)])
def test_compressed_memory_in_bfloat16_equals_the_float32_cpu_one(tiny_llama, device):
    model, tokenizer = tiny_llama
    cpu = KVMemory(MemoryConfig(**SETTINGS), copy.deepcopy(model), tokenizer)
    cpu.memorize(DOCUMENTS)
    bf16_model = copy.deepcopy(model).to(device, torch.bfloat16)
    gpu = KVMemory(MemoryConfig(**SETTINGS, device=device, dtype="bfloat16"), bf16_model, tokenizer)
    gpu.memorize(DOCUMENTS)
    assert gpu.keys[0].device.type == device and gpu.keys[0].dtype == torch.bfloat16 and gpu.length == cpu.length
    same_sources = [float((g.cpu() == c).float().mean()) for g, c in zip(gpu.sources, cpu.sources, strict=True)]
    assert min(same_sources) >= 0.9, same_sources
    for g, c, gs, cs in zip(gpu.keys + gpu.values, cpu.keys + cpu.values, gpu.sources * 2, cpu.sources * 2,
                            strict=True):
        kept = (gs.cpu() == cs)[None, :, :, None].expand_as(c)  # entries of the same source token
        assert torch.allclose(g.float().cpu()[kept], c.float()[kept], atol=5e-2, rtol=5e-2)


@on_cuda
def test_a_model_folder_loads_with_device_map_auto(tiny_llama, tmp_path: Path):
    from transformers import AutoTokenizer

    from memorag.models import load_causal_lm, resolve

    model, _ = tiny_llama
    model.save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(resolve("minilm").path).save_pretrained(tmp_path)  # any tokenizer: not used
    loaded, _ = load_causal_lm(str(tmp_path), "auto", "bfloat16")
    assert {parameter.device.type for parameter in loaded.parameters()} == {"cuda"}
    assert next(loaded.parameters()).dtype == torch.bfloat16


@on_cuda
@pytest.mark.slow
def test_smollm2_memorizes_and_answers_on_cuda(tmp_path: Path):
    from click.testing import CliRunner

    from memorag import MemoRAG
    from memorag.cli import cli
    from memorag.config import RetrievalConfig
    from memorag.store import read_manifest

    rag = MemoRAG(MemoryConfig(device="cuda", dtype="bfloat16"), RetrievalConfig(device="cuda"))
    rag.memorize([DOCUMENTS[0].text, DOCUMENTS[1].text], store=tmp_path / "store")
    assert rag.memory.keys[0].device.type == "cuda"
    answer = rag.ask("Who keeps the vault code?", max_new_tokens=0)
    assert "porter" in answer.evidence[0].text
    loaded = MemoRAG.load(tmp_path / "store", device="cuda")
    assert loaded.memory.keys[0].device.type == "cuda" and loaded.memory.keys[0].dtype == torch.bfloat16

    text = tmp_path / "vault.txt"
    text.write_text(DOCUMENTS[0].text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["memorize", str(text), "--store", str(tmp_path / "cli"), "--device", "cuda",
                                      "--dtype", "bfloat16", "--json"])
    assert result.exit_code == 0, result.output
    assert read_manifest(tmp_path / "cli")["memory"]["dtype"] == "bfloat16"
    asked = CliRunner().invoke(cli, ["ask", str(tmp_path / "cli"), "Who keeps the vault code?", "--device", "cuda",
                                     "--max-new-tokens", "8"])
    assert asked.exit_code == 0, asked.output
