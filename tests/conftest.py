"""Shared fixtures: a tiny random-weight Llama and a character tokenizer for unit tests (no weights needed)."""

from __future__ import annotations

import pytest


class CharTokenizer:
    """A stand-in tokenizer for unit tests of code around the model: one token per character."""

    chat_template = None
    eos_token_id = 1
    unk_token_id = 0
    pad_token_id = 1

    def __call__(self, text: str, add_special_tokens: bool = False, return_offsets_mapping: bool = False) -> dict:
        encoded: dict = {"input_ids": [2 + ord(c) % 97 for c in text]}
        if return_offsets_mapping:
            encoded["offset_mapping"] = [(i, i + 1) for i in range(len(text))]
        return encoded

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return "".join(chr(ord("a") + i % 26) for i in ids)

    def convert_tokens_to_ids(self, token: str) -> int:
        return 0


@pytest.fixture(scope="session")
def tiny_llama():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=99, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=512, attn_implementation="sdpa",
    )
    return LlamaForCausalLM(config).eval(), CharTokenizer()
