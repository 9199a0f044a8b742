"""`copy` recall: span clues the memory model copies, token for token, out of the memorized documents.

MemoRAG's "span" clue (paper section 2.2), decoded under a copy constraint (copying.py) so every span is a
contiguous piece of the text with exact offsets. Greedy copying starts on list numbers and headers
(../shared/notes/clue-baseline.md), so starts are restricted to sentence starts (each sentence tokenized on its
own, so it begins with the token a reply would: "The", not "Ġthe"), ranked by a beam over their first tokens'
likelihood after the memory and the span prompt. Not here: letting attention pick the start.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from memorag.errors import MemoryBudgetError
from memorag.recall.base import RecallConfig, memory_reader, nonblank
from memorag.recall.copying import continuation, copy_spans
from memorag.recall.stream import TokenStream, copy_pieces
from memorag.types import Clue, Document


def stop_tokens(tokenizer: Any) -> list[int]:
    """End-of-turn tokens and every line-break token: where a copied span may end by the model's choice."""
    from memorag.memory.kv import newline_ids, stop_ids

    return sorted(stop_ids(tokenizer) | newline_ids(tokenizer))


def check_fits(reader: Any, prompt_tokens: int, new_tokens: int) -> None:
    if reader.length + prompt_tokens + new_tokens > reader.native_window:
        raise MemoryBudgetError(
            f"the recall prompt ({prompt_tokens} tokens) and {new_tokens} new tokens do not fit after "
            f"{reader.length} memory entries in a {reader.native_window}-token window: shorten the question"
        )


class StreamCache:
    """The last stream built, rebuilt only when the documents or the tokenizer change."""

    def __init__(self, build: Callable[[Any, Sequence[Document]], TokenStream]) -> None:
        self.build = build
        self._key: tuple[int, ...] | None = None
        self._stream: TokenStream | None = None

    def get(self, reader: Any, documents: Sequence[Document]) -> TokenStream:
        key = (
            id(reader.tokenizer),
            hash(reader.frame.prefix),
            *(hash((d.source, d.text)) for d in documents),
        )
        if key != self._key or self._stream is None:
            self._stream = self.build(reader, documents)
            self._key = key
        return self._stream


class CopyRecall:
    name = "copy"

    def __init__(self, config: RecallConfig | None = None) -> None:
        self.config = config or RecallConfig()
        self._streams = StreamCache(self.sentences)

    def sentences(self, reader: Any, documents: Sequence[Document]) -> TokenStream:
        """One copy piece per sentence of the documents, of at least `min_span_chars`."""
        regions = [(doc_id, 0, len(document.text)) for doc_id, document in enumerate(documents)]
        return copy_pieces(
            reader.tokenizer,
            documents,
            regions,
            "sentence",
            self.config.min_span_chars,
            max_chars=16 * self.config.max_span_tokens,
        )

    def recall(
        self, question: str, memory: Any, documents: Sequence[Document], retriever: Any = None
    ) -> list[Clue]:
        reader, config = memory_reader(memory), self.config
        stream = self._streams.get(reader, documents)
        starts = stream.piece_starts()
        prompt = reader.tokenizer(
            reader.frame.task_suffix("span", question=question), add_special_tokens=False
        )["input_ids"]
        check_fits(reader, len(prompt), config.max_span_tokens)
        with continuation(reader.model, reader._question_cache(), reader.length, prompt) as cont:
            spans = copy_spans(
                cont,
                stream,
                documents,
                starts,
                config.spans,
                config.beam_width,
                config.start_tokens,
                config.max_span_tokens,
                stop_tokens(reader.tokenizer),
                config.min_span_chars,
            )
        return nonblank([Clue(s.text, "span", "copy", s.doc_id, s.start, s.end, s.score) for s in spans])
