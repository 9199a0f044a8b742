"""LocalGenerator: chat generation with a transformers causal LM loaded once per process by memorag.models.

Greedy decoding when temperature is 0 (deterministic on a given device), sampling otherwise. The repetition
penalty counts generated tokens only: transformers' own `repetition_penalty` also penalizes every prompt token,
which keeps a small model from copying words of the question or the evidence into its answer (at 1.1,
SmolLM2-135M answers "What is the capital of France? Answer in one word." with a digression, not "Paris").
Tokenizers without a chat template (base models) get a plain "...\\n\\nAnswer:" prompt.
Does not stream, batch, or stop on strings other than the end-of-sequence token.
"""

from __future__ import annotations

from typing import Any

from memorag.errors import GenerationError
from memorag.generation.base import Messages, check_messages, fit_messages, head_and_tail, prompt_budget
from memorag.models import load_causal_lm


def plain_prompt(messages: Messages) -> str:
    """Messages as one plain-text prompt for base models: contents joined by blank lines, then "Answer:"."""
    parts = [f"Answer: {m['content']}" if m["role"] == "assistant" else m["content"] for m in messages]
    if messages[-1]["role"] != "assistant":
        parts.append("Answer:")
    return "\n\n".join(parts)


class GeneratedRepetitionPenalty:
    """The CTRL repetition penalty (Keskar et al. 2019, as in transformers) over generated tokens only.

    A logits processor: divides positive logits (multiplies negative ones) of tokens already generated.
    """

    def __init__(self, penalty: float, prompt_length: int) -> None:
        self.penalty = penalty
        self.prompt_length = prompt_length

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        generated = input_ids[:, self.prompt_length :]  # (B, T_new)
        if generated.shape[1] == 0:
            return scores
        picked = scores.gather(1, generated)  # (B, T_new)
        picked = torch.where(picked < 0, picked * self.penalty, picked / self.penalty)
        return scores.scatter(1, generated, picked)  # (B, V)


class LocalGenerator:
    """A Generator backed by a local causal LM: an embedded name ("smollm2"), a directory, .gguf file or HF id.

    context_window is the model's max_position_embeddings, or the smaller `context_window` given here.
    """

    def __init__(
        self,
        model: str = "smollm2",
        device: str = "cpu",
        dtype: str = "float32",
        repetition_penalty: float = 1.1,
        context_window: int | None = None,
    ) -> None:
        if repetition_penalty <= 0:
            raise ValueError(
                f"repetition_penalty must be positive (1.0 turns it off), not {repetition_penalty}"
            )
        self.model_id = model
        self.device = device
        self.repetition_penalty = repetition_penalty
        self._model, self._tokenizer = load_causal_lm(model, device, dtype)
        own_window = int(getattr(self._model.config, "max_position_embeddings", 0) or 0)
        own_window = own_window or int(self._tokenizer.model_max_length)
        self.context_window = min(own_window, context_window) if context_window else own_window

    def count_tokens(self, text: str) -> int:
        """Exact: tokens of `text` under this model's tokenizer, without special tokens."""
        return len(self._encode(text))

    def truncate_middle(self, text: str, max_tokens: int) -> str:
        """Keep the first max_tokens // 2 and the last remaining token ids of `text`; drop the middle."""
        ids = self._encode(text)
        if len(ids) <= max_tokens:
            return text
        head, tail = head_and_tail(ids, max_tokens)
        return str(self._tokenizer.decode([*head, *tail]))  # one decode keeps the spacing at the cut right

    def prompt_ids(self, messages: Messages) -> list[int]:
        """Token ids of the full prompt: the chat template with a generation prompt, or plain_prompt."""
        tokenizer = self._tokenizer
        if tokenizer.chat_template:
            text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            return self._encode(text)  # the template writes its own special tokens
        return list(tokenizer(plain_prompt(messages))["input_ids"])  # with BOS, as base models expect

    def generate(self, messages: Messages, *, max_new_tokens: int = 128, temperature: float = 0.0) -> str:
        """Answer the chat; over-long prompts lose the middle of their longest message first."""
        import torch
        from transformers import LogitsProcessorList

        check_messages(messages)
        if temperature < 0:
            raise ValueError(f"temperature must be at least 0, not {temperature}")
        budget = prompt_budget(self.context_window, max_new_tokens)
        fitted = fit_messages(
            messages, budget, lambda m: len(self.prompt_ids(m)), self.count_tokens, self.truncate_middle
        )
        input_ids = torch.tensor([self.prompt_ids(fitted)], device=self.device)  # (1, T)
        prompt_length = input_ids.shape[1]
        sampling: dict[str, Any] = {"do_sample": False}
        if temperature > 0:
            sampling = {"do_sample": True, "temperature": temperature}
        processors = LogitsProcessorList()
        if self.repetition_penalty != 1.0:
            processors.append(GeneratedRepetitionPenalty(self.repetition_penalty, prompt_length))
        try:
            with torch.no_grad():
                output = self._model.generate(
                    input_ids=input_ids,
                    attention_mask=torch.ones_like(input_ids),
                    max_new_tokens=max_new_tokens,
                    pad_token_id=self._tokenizer.pad_token_id,
                    logits_processor=processors,
                    **sampling,
                )  # (1, T + new)
        except (RuntimeError, ValueError) as exc:
            raise GenerationError(
                f"local model {self.model_id!r} failed to generate ({exc.__class__.__name__}: {str(exc)[:300]});"
                " check that device and dtype suit the model, or lower max_new_tokens"
            ) from exc
        return str(self._tokenizer.decode(output[0, prompt_length:], skip_special_tokens=True)).strip()

    def _encode(self, text: str) -> list[int]:
        return list(self._tokenizer(text, add_special_tokens=False)["input_ids"])
