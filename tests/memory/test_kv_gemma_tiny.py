"""The KV memory on a tiny random Gemma 3: one rotary base per layer type, sliding and global layers."""

from __future__ import annotations

import pytest
import torch

from memorag.config import MemoryConfig
from memorag.memory.kv import KVMemory, document_header
from memorag.memory.prompts import prompt_frame
from memorag.memory.rope import inverse_frequencies
from memorag.models import cache_argument
from memorag.types import Document

TEXT = "Gemma keeps a local and a global rotary base, so each layer re-rotates with its own. " * 2


@pytest.fixture(scope="module")
def tiny_gemma(request):
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    def build(sliding_window: int):
        torch.manual_seed(0)
        config = Gemma3TextConfig(
            vocab_size=99, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, head_dim=8, max_position_embeddings=512, sliding_window=sliding_window,
            layer_types=["sliding_attention", "full_attention"], attn_implementation="sdpa",
        )
        return Gemma3ForCausalLM(config).eval()

    return build


@pytest.mark.parametrize("sliding_window", [512, 24])
def test_beta_one_equals_the_plain_cache_with_per_layer_rotary_bases(tiny_gemma, tiny_llama, sliding_window):
    model, tokenizer = tiny_gemma(sliding_window), tiny_llama[1]
    bases = inverse_frequencies(model)
    assert len(bases) == 2 and not torch.allclose(bases[0], bases[1])  # local and global bases differ
    memory = KVMemory(MemoryConfig(beta=1, window=16, reserve=32, observation=4), model, tokenizer)
    memory.memorize([Document("a", TEXT)])
    stream = tokenizer(prompt_frame(tokenizer).prefix)["input_ids"]
    stream += tokenizer(document_header(Document("a", TEXT)) + TEXT)["input_ids"]
    question = [5, 6, 7, 8]
    with torch.no_grad():
        plain = model(input_ids=torch.tensor([stream + question])).logits[0, -len(question):]
        positions = torch.arange(memory.length, memory.length + len(question))[None]
        out = model(input_ids=torch.tensor([question]), position_ids=positions,
                    **cache_argument(memory.model, memory._question_cache()))
    assert torch.allclose(out.logits[0], plain, atol=2e-3), (out.logits[0] - plain).abs().max()
