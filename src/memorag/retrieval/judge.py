"""The judge: a causal LM re-ranks candidate passages by how likely it finds the question after each one.

Zero-shot query-likelihood re-ranking (UPR, Sachan et al. 2022): a passage's score is the mean log-probability
of the question's tokens after a prompt that holds the passage ("Passage: ... Please write a question based on
this passage. Question:"). Passages are cut to `passage_tokens` tokens; rows are left-padded so every row's
question ends at the same position and only the question's logits are computed; padding is masked and position
ids start at each row's first real token, so a row scores the same alone or in any batch. With
`context="memory"` each row reads the global memory's KV cache before its prompt (positions continue after the
memory's entries), so the judge sees the whole memorized context as well as the passage.
Does not handle: sampling, scoring under a chat template, or caching scores across questions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from memorag.config import JudgeConfig
from memorag.models import cache_argument
from memorag.types import EvidencePassage

PROMPT = "Passage: {passage}\nPlease write a question based on this passage.\nQuestion:"


class QueryLikelihoodJudge:
    """Scores passages for a question with a loaded (model, tokenizer); higher is better (a mean log-prob)."""

    def __init__(self, model: Any, tokenizer: Any, config: JudgeConfig, name: str = "") -> None:
        self.model, self.tokenizer, self.config = model, tokenizer, config
        self.name = name or str(getattr(model, "name_or_path", ""))
        self._pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id or 0

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _prompt_ids(self, passage: str) -> list[int]:
        """The prompt around the passage, the passage cut to `passage_tokens` tokens."""
        ids = self._ids(passage.strip())
        if len(ids) > self.config.passage_tokens:
            passage = self.tokenizer.decode(ids[: self.config.passage_tokens], skip_special_tokens=True)
        bos = getattr(self.tokenizer, "bos_token_id", None)
        head = [bos] if bos is not None and getattr(self.tokenizer, "add_bos_token", False) else []
        return head + self._ids(PROMPT.format(passage=passage.strip()))

    def score(self, question: str, passages: Sequence[str], memory: Any = None) -> list[float]:
        """Mean log p(question tokens | prompt with passage), one per passage, in their order.

        `memory`: (keys, values) per layer, each (1, H_kv, M, d), read before every prompt (context "memory")."""
        question_ids = self._ids(" " + question.strip()) if question.strip() else []
        if not passages or not question_ids:
            return [0.0] * len(passages)
        prompts = [self._prompt_ids(text) for text in passages]
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # like lengths batch with little padding
        size = self.config.batch_size
        scores = [0.0] * len(prompts)
        for start in range(0, len(order), size):
            rows = order[start : start + size]
            for row, score in zip(rows, self._score_batch([prompts[i] for i in rows], question_ids, memory)):
                scores[row] = score
        return scores

    @torch.no_grad()
    def _score_batch(self, prompts: list[list[int]], question: list[int], memory: Any) -> list[float]:
        device = self.model.device
        rows = [prompt + question for prompt in prompts]
        width = max(len(row) for row in rows)
        ids = torch.full((len(rows), width), self._pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):  # left padding: every question ends at the last position
            ids[i, width - len(row) :] = torch.tensor(row)
            mask[i, width - len(row) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        kwargs: dict[str, Any] = {}
        if memory is not None:
            from transformers import DynamicCache

            keys, values = memory
            length = keys[0].shape[2]
            batch = len(rows)
            layers = [(k.expand(batch, -1, -1, -1).contiguous(), v.expand(batch, -1, -1, -1).contiguous())
                      for k, v in zip(keys, values)]
            kwargs.update(cache_argument(self.model, DynamicCache(ddp_cache_data=layers)))
            mask = torch.cat((torch.ones((batch, length), dtype=torch.long), mask), dim=1)
            positions = positions + length
        out = self.model(
            input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device),
            logits_to_keep=len(question) + 1, use_cache=memory is not None, **kwargs,
        )
        logprobs = out.logits[:, :-1].float().log_softmax(-1)  # (B, Lq, V): position j predicts question[j]
        target = torch.tensor(question, device=logprobs.device)[None, :, None].expand(len(rows), -1, -1)
        return logprobs.gather(-1, target)[..., 0].mean(-1).tolist()

    def rerank(
        self, question: str, pool: Sequence[EvidencePassage], top_k: int, memory: Any = None
    ) -> list[EvidencePassage]:
        """The pool ranked best first (`judged_order`), cut to top_k; each passage's `judge_score` set."""
        scores = self.score(question, [passage.text for passage in pool], memory)
        judged = [passage.judged(score) for passage, score in zip(pool, scores)]
        return [judged[i] for i in judged_order(scores, self.config.prior)[:top_k]]


def judged_order(scores: Sequence[float], prior: float = 0.0) -> list[int]:
    """Indices of a pool (in its own order: the retriever's) best first: by judge rank (1 = the highest score)
    plus `prior` times pool rank; ties go to the higher judge score, then to the pool's order."""
    by_score = sorted(range(len(scores)), key=lambda i: -scores[i])  # stable: the pool's order breaks ties
    judge_rank = {index: rank for rank, index in enumerate(by_score, start=1)}
    return sorted(by_score, key=lambda i: judge_rank[i] + prior * (i + 1))


__all__ = ["PROMPT", "QueryLikelihoodJudge", "judged_order"]
