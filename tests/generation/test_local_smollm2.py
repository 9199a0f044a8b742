"""End to end on the embedded SmolLM2-135M-Instruct (GGUF dequantized to torch): loads in ~20 s on CPU."""

from __future__ import annotations

import pytest

from memorag.generation import LocalGenerator

pytestmark = pytest.mark.slow

QUESTION = "What is the capital of France? Answer in one word."


@pytest.fixture(scope="module")
def smollm2() -> LocalGenerator:
    return LocalGenerator("smollm2")


def test_answers_a_known_question_deterministically(smollm2: LocalGenerator) -> None:
    messages = [{"role": "user", "content": QUESTION}]
    answer = smollm2.generate(messages, max_new_tokens=16)
    assert "Paris" in answer
    assert smollm2.generate(messages, max_new_tokens=16) == answer
    assert smollm2.context_window == 8192


def test_truncate_middle_cuts_real_token_ids(smollm2: LocalGenerator) -> None:
    text = "Start of the report. " + "Filler sentence about nothing. " * 200 + "End of the report."
    cut = smollm2.truncate_middle(text, 40)
    assert cut.startswith("Start of the report.") and cut.endswith("End of the report.")
    assert smollm2.count_tokens(cut) <= 41  # re-tokenizing at the cut may merge or split one token
