"""Copy-constrained decoding: the model may only write a contiguous token sequence of a given text.

The text is a `TokenStream` of copy pieces (stream.copy_pieces: one per sentence or word start, running to
its sentence end). The constraint is a set of piece starts: a span of d tokens so far is allowed at every start
p with stream[p : p + d] equal to it, and its next token must be stream[p + d] for one of them, inside the same
piece (an exact prefix table over the text, computed on the fly). Where a span starts is chosen by a small beam
over the piece starts, ranked by the log-likelihood of their first tokens after the memory and the prompt; each
of the best starts is then extended greedily, under the constraint, to its sentence end, a stop token the model
prefers, or a token budget. Not here: sampling, batching hypotheses (they run one by one).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from memorag.models import cache_argument
from memorag.recall.stream import TokenStream
from memorag.types import Document


def crop(cache: Any, length: int) -> None:
    """Drop what was appended to a cache after its first `length` positions."""
    for layer in cache.layers:
        layer.keys, layer.values = layer.keys[:, :, :length], layer.values[:, :, :length]


class Continuation:
    """A prompt fed after a cache of `memory_length` positions; next-token log-probs after any token prefix.

    Keeps the last prefix fed, so a prefix that grows by one token costs one token's forward."""

    def __init__(self, model: Any, cache: Any, memory_length: int, prompt_ids: list[int]) -> None:
        self.model, self.cache, self.memory_length = model, cache, memory_length
        self.base = memory_length + len(prompt_ids)
        self.fed: list[int] = []
        self.first = self.last = self._forward(prompt_ids, memory_length)

    @torch.no_grad()
    def _forward(self, ids: list[int], position: int) -> torch.Tensor:
        device = self.model.device
        positions = torch.arange(position, position + len(ids), device=device)[None]
        out = self.model(
            input_ids=torch.tensor([ids], device=device),
            position_ids=positions,
            **cache_argument(self.model, self.cache),
            use_cache=True,
            logits_to_keep=1,
        )
        return out.logits[0, -1].float().log_softmax(-1)  # (V,)

    def logprobs(self, tokens: Sequence[int]) -> torch.Tensor:
        tokens = list(tokens)
        if tokens == self.fed:
            return self.last
        if tokens[: len(self.fed)] != self.fed:
            crop(self.cache, self.base)
            self.fed, self.last = [], self.first
            if not tokens:
                return self.first
        self.last = self._forward(tokens[len(self.fed) :], self.base + len(self.fed))
        self.fed = tokens
        return self.last


@contextmanager
def continuation(model: Any, cache: Any, memory_length: int, prompt_ids: list[int]) -> Iterator[Continuation]:
    """A Continuation whose cache is cropped back to the memory afterwards, whatever happens."""
    try:
        yield Continuation(model, cache, memory_length, prompt_ids)
    finally:
        crop(cache, memory_length)


@dataclass(frozen=True)
class Hypothesis:
    tokens: tuple[int, ...]
    positions: np.ndarray  # starts in the stream where `tokens` occur
    score: float  # summed log-probability of `tokens`


@dataclass(frozen=True)
class CopiedSpan:
    doc_id: int
    start: int
    end: int
    text: str
    score: float  # mean log-probability per token


def beam_starts(
    cont: Continuation, stream: TokenStream, starts: np.ndarray, width: int, depth: int
) -> list[Hypothesis]:
    """The `width` best prefixes of `depth` tokens among spans beginning at `starts`, best first."""
    beam = [Hypothesis((), starts, 0.0)]
    for d in range(depth):
        expanded = []
        for hyp in beam:
            groups = stream.next_tokens(hyp.positions, d)
            if not groups:
                continue
            logprobs = cont.logprobs(hyp.tokens)
            expanded += [
                Hypothesis((*hyp.tokens, t), at, hyp.score + float(logprobs[t])) for t, at in groups.items()
            ]
        if not expanded:
            break
        beam = sorted(expanded, key=lambda hyp: -hyp.score)[:width]
    return beam if beam[0].tokens else []


WORD_FINISH = 4  # tokens past the budget a span may take to end its last word


def _inside_word(stream: TokenStream, position: int, documents: Sequence[Document]) -> bool:
    """Whether the token at `position` continues the word of the token before it."""
    text = documents[int(stream.doc[position])].text
    at = int(stream.start[position])
    return 0 < at < len(text) and text[at].isalnum() and text[at - 1].isalnum()


def extend(
    cont: Continuation,
    stream: TokenStream,
    documents: Sequence[Document],
    hyp: Hypothesis,
    max_tokens: int,
    stops: Sequence[int] = (),
    min_chars: int = 0,
) -> Hypothesis:
    """Extend `hyp` greedily under the copy constraint, to the end of its piece (a sentence end), `max_tokens`
    (a few more to finish a word), or, once the span has `min_chars`, where the model prefers a stop token."""
    tokens, positions, score = list(hyp.tokens), hyp.positions, hyp.score
    stop_index = torch.tensor(sorted(stops), dtype=torch.long, device=cont.first.device)
    while len(tokens) < max_tokens + WORD_FINISH:
        groups = stream.next_tokens(positions, len(tokens))
        if not groups:
            break
        logprobs = cont.logprobs(tokens)
        token = max(groups, key=lambda t: float(logprobs[t]))
        _, start, end = stream.span(int(positions[0]), len(tokens), documents)
        if len(tokens) >= max_tokens and not _inside_word(
            stream, int(groups[token][0]) + len(tokens), documents
        ):
            break
        if (
            len(stop_index)
            and end - start >= min_chars
            and float(logprobs[stop_index].max()) > float(logprobs[token])
        ):
            break
        tokens.append(token)
        positions, score = groups[token], score + float(logprobs[token])
    return Hypothesis(tuple(tokens), positions, score)


def copy_spans(
    cont: Continuation,
    stream: TokenStream,
    documents: Sequence[Document],
    starts: np.ndarray,
    count: int,
    width: int,
    depth: int,
    max_tokens: int,
    stops: Sequence[int] = (),
    min_chars: int = 0,
) -> list[CopiedSpan]:
    """Up to `count` spans copied from the stream, from the best starts of a beam; each has text."""
    if not len(starts):
        return []
    spans: list[CopiedSpan] = []
    for hyp in beam_starts(cont, stream, starts, max(width, count), depth)[:count]:
        done = extend(cont, stream, documents, hyp, max_tokens, stops, min_chars)
        doc_id, start, end = stream.span(int(done.positions[0]), len(done.tokens), documents)
        text = documents[doc_id].text[start:end]
        if text.strip():
            spans.append(CopiedSpan(doc_id, start, end, text, done.score / len(done.tokens)))
    return spans
