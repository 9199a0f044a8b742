"""LocalGenerator on a tiny random-weight Llama (vocab 99, hidden 32, 2 layers, window 64) with a word tokenizer.

load_causal_lm is replaced by the tiny pair, so these run in seconds and need no weights.
"""

from __future__ import annotations

from typing import Any

import pytest

from memorag.generation import local
from memorag.generation.base import Generator
from memorag.generation.local import GeneratedRepetitionPenalty, LocalGenerator, plain_prompt

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

WINDOW = 64
CHAT_TEMPLATE = (
    "{% for m in messages %}<s> {{ m['role'] }} {{ m['content'] }} </s> {% endfor %}"
    "{% if add_generation_prompt %}<s> assistant {% endif %}"
)


def tiny_tokenizer(chat_template: str | None) -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    words = ["<unk>", "<s>", "</s>", "system", "user", "assistant", "Answer:"] + [f"w{i}" for i in range(92)]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="</s>"
    )
    tokenizer.chat_template = chat_template
    return tokenizer


def tiny_model() -> Any:
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=99,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=WINDOW,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
    )
    return transformers.LlamaForCausalLM(config).eval()


def make_generator(
    monkeypatch: pytest.MonkeyPatch, chat_template: str | None, **kwargs: Any
) -> LocalGenerator:
    pair = (tiny_model(), tiny_tokenizer(chat_template))
    monkeypatch.setattr(local, "load_causal_lm", lambda name, device, dtype: pair)
    return LocalGenerator("tiny", **kwargs)


def words(start: int, stop: int) -> str:
    return " ".join(f"w{i}" for i in range(start, stop))


def test_plain_prompt_joins_messages_and_asks_for_an_answer() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "3+3?"},
    ]
    assert plain_prompt(messages) == "Be brief.\n\n2+2?\n\nAnswer: 4\n\n3+3?\n\nAnswer:"
    assert plain_prompt(messages[:3]) == "Be brief.\n\n2+2?\n\nAnswer: 4"  # continues the assistant turn


def test_tokenizer_without_chat_template_gets_plain_prompt_with_bos(monkeypatch: pytest.MonkeyPatch) -> None:
    generator = make_generator(monkeypatch, chat_template=None)
    ids = generator.prompt_ids([{"role": "system", "content": "w1"}, {"role": "user", "content": "w2 w3"}])
    assert generator._tokenizer.convert_ids_to_tokens(ids) == ["<s>", "w1", "w2", "w3", "Answer:"]


def test_chat_template_with_generation_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    generator = make_generator(monkeypatch, CHAT_TEMPLATE)
    ids = generator.prompt_ids([{"role": "user", "content": "w7"}])
    tokens = generator._tokenizer.convert_ids_to_tokens(ids)
    assert tokens == ["<s>", "user", "w7", "</s>", "<s>", "assistant"]  # no second BOS from the tokenizer


def test_window_count_and_exact_token_truncation(monkeypatch: pytest.MonkeyPatch) -> None:
    generator = make_generator(monkeypatch, CHAT_TEMPLATE)
    assert isinstance(generator, Generator)
    assert generator.context_window == WINDOW
    assert make_generator(monkeypatch, CHAT_TEMPLATE, context_window=32).context_window == 32
    assert generator.count_tokens(words(0, 20)) == 20
    assert generator.truncate_middle(words(0, 20), 5) == "w0 w1 w17 w18 w19"
    assert generator.truncate_middle(words(0, 4), 5) == words(0, 4)


def test_generate_is_greedy_and_fits_long_prompts_into_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    generator = make_generator(monkeypatch, CHAT_TEMPLATE)
    seen: list[list[int]] = []
    original = generator._model.generate

    def spy(**kwargs: Any) -> Any:
        seen.append(kwargs["input_ids"][0].tolist())
        return original(**kwargs)

    monkeypatch.setattr(generator._model, "generate", spy)
    messages = [{"role": "system", "content": "w90"}, {"role": "user", "content": words(0, 90)}]
    first = generator.generate(messages, max_new_tokens=8)
    assert first == generator.generate(messages, max_new_tokens=8)  # greedy: deterministic
    tokens = generator._tokenizer.convert_ids_to_tokens(seen[0])
    assert len(tokens) <= WINDOW - 8
    assert tokens[:5] == ["<s>", "system", "w90", "</s>", "<s>"]  # the short message is kept whole
    assert tokens[6:8] == ["w0", "w1"] and tokens[-5:] == ["w88", "w89", "</s>", "<s>", "assistant"]
    assert isinstance(generator.generate(messages, max_new_tokens=4, temperature=1.0), str)


def test_generated_repetition_penalty_spares_the_prompt() -> None:
    scores = torch.tensor([[2.0, -2.0, 2.0, 4.0]])
    input_ids = torch.tensor([[0, 1, 2]])  # token 0 is the prompt, 1 and 2 were generated
    penalized = GeneratedRepetitionPenalty(2.0, prompt_length=1)(input_ids, scores)
    assert penalized.tolist() == [[2.0, -4.0, 1.0, 4.0]]
    assert GeneratedRepetitionPenalty(2.0, prompt_length=3)(input_ids, scores).tolist() == scores.tolist()


def test_rejects_bad_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="repetition_penalty"):
        make_generator(monkeypatch, CHAT_TEMPLATE, repetition_penalty=0.0)
    generator = make_generator(monkeypatch, CHAT_TEMPLATE)
    with pytest.raises(ValueError, match="temperature"):
        generator.generate([{"role": "user", "content": "w1"}], temperature=-1.0)
