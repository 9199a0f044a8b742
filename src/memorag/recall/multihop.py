"""`multihop` recall: a bounded chain of hops, each copying a bridge out of the evidence the last one found.

Multi-hop questions name the first hop only; the answer sits in a passage that shares no words with the question
(../shared/notes/clue-baseline.md). Hop 1 retrieves with the question; the memory model reads the top new
passage(s) (on their own, not after the memory: the passage is what it must read) and copies out the bridge,
a name or short phrase that is not in the question, under the copy constraint (copying.py), so the bridge
has exact offsets. The bridge queries the index for hop 2, and so on, `max_hops` hops at most; a hop that finds
no new passage or copies nothing ends the chain. Not here: deciding that the answer was reached.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from memorag.memory.prompts import chat_prompt
from memorag.recall.base import RecallConfig, memory_reader, nonblank
from memorag.recall.copy import stop_tokens
from memorag.recall.copying import CopiedSpan, continuation, copy_spans
from memorag.recall.stream import copy_pieces
from memorag.types import Chunk, Clue, Document

BRIDGE_TASK = (
    "Passage:\n{passages}\n\nQuestion: {question}\n\nThe passage may not answer the question, but it names what "
    "the question leads to. Copy from the passage, word for word, the name of the person, place, work, date or "
    "thing that the answer depends on. Write only that name."
)
FUNCTION_WORDS = frozenset(  # never a bridge's first word
    re.findall(
        r"\w+",
        "a an the of in on at to for from by with as and or but is are was were be been it its this that these "
        "those which who whom whose what when where how he she they his her their there here also not",
    )
)
BASE_BRIDGE_TASK = "{passages}\n\nQuestion: {question}\nThe name in the passage that leads to the answer:"


def bridge_prompt(reader: Any, question: str, passages: Sequence[Chunk]) -> str:
    joined = "\n\n".join(chunk.text.strip() for chunk in passages)
    if not reader.frame.chat:
        return BASE_BRIDGE_TASK.format(passages=joined, question=question)
    return chat_prompt(reader.tokenizer, BRIDGE_TASK.format(passages=joined, question=question))


class MultihopRecall:
    name = "multihop"

    def __init__(self, config: RecallConfig | None = None) -> None:
        self.config = config or RecallConfig()

    def bridge(
        self,
        reader: Any,
        question: str,
        passages: Sequence[Chunk],
        documents: Sequence[Document],
        known: Iterable[str] = (),
    ) -> CopiedSpan | None:
        """The bridge the model copies from `passages`, starting at a word that is neither a function word nor
        in the question or `known` (earlier bridges): a bridge is what the question does not say yet."""
        from transformers import DynamicCache

        asked = FUNCTION_WORDS | set(known) | words(question)
        regions = [(chunk.doc_id, chunk.start, chunk.end) for chunk in passages]
        stream = copy_pieces(
            reader.tokenizer, documents, regions, "word", max_chars=8 * self.config.bridge_tokens
        )
        starts = np.asarray(
            [p for p in stream.piece_starts() if _word_at(stream, int(p), documents).lower() not in asked],
            dtype=np.int64,
        )
        prompt = reader.tokenizer(bridge_prompt(reader, question, passages), add_special_tokens=False)[
            "input_ids"
        ]
        with continuation(reader.model, DynamicCache(), 0, prompt) as cont:
            spans = copy_spans(
                cont,
                stream,
                documents,
                starts,
                1,
                self.config.beam_width,
                min(2, self.config.bridge_tokens),
                self.config.bridge_tokens,
                stop_tokens(reader.tokenizer),
            )
        return spans[0] if spans else None

    def recall(
        self, question: str, memory: Any, documents: Sequence[Document], retriever: Any = None
    ) -> list[Clue]:
        if retriever is None:
            raise ValueError("multihop recall needs the retriever: each hop queries the index")
        reader = memory_reader(memory)
        clues: list[Clue] = []
        read: set[int] = set()
        known: set[str] = set()
        query = question
        for hop in range(1, self.config.max_hops + 1):
            found = retriever.search([query], len(read) + self.config.hop_passages)
            fresh = [cid for cid, _ in (found[0][1] if found else []) if cid not in read][
                : self.config.hop_passages
            ]
            if not fresh:
                break
            read.update(fresh)
            span = self.bridge(reader, question, [retriever.chunks[cid] for cid in fresh], documents, known)
            if span is None or not span.text.strip():
                break
            clues.append(
                Clue(span.text, "bridge", "multihop", span.doc_id, span.start, span.end, span.score, hop)
            )
            query = span.text
            known |= words(span.text)
        return nonblank(clues)


def words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def _word_at(stream: Any, position: int, documents: Sequence[Document]) -> str:
    text = documents[int(stream.doc[position])].text
    match = re.compile(r"\w+").search(text, int(stream.start[position]))
    return match.group(0) if match else ""
