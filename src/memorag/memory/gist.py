"""The `gist` memory (MemoRAG-Lite): the memory model first writes a gist of every piece of the context, then the
concatenated gists are memorized as a `kv` memory (compressed again by beta when they do not fit at beta 1).

A gist keeps the key facts of its piece (names, numbers, dates) and drops redundancy, so a model with a short
window holds a long text as text it wrote itself. Gists are saved with the memory (`gists.json`) and shown by
`memorag info`. Costs one generation per `gist_chunk_tokens` of input at memorize time. Does not handle: gists of
gists (a hierarchy) when even the gists outgrow the window at beta 64.
"""

from __future__ import annotations

import bisect
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from memorag.config import MemoryConfig
from memorag.errors import StoreCorruptError
from memorag.memory.base import CLUE_KINDS
from memorag.memory.decoding import DecodeOptions, decode
from memorag.memory.kv import KVMemory, stop_ids
from memorag.memory.prompts import GIST_TASK, chat_prompt
from memorag.types import Clue, Document

GISTS_FILE = "gists.json"


@dataclass(frozen=True)
class Gist:
    source: str  # the document's source
    start: int  # character span of the piece it summarizes
    end: int
    text: str
    extractive: bool = False  # True when the model wrote nothing and the piece's head stands in


def split_by_tokens(text: str, tokenizer: Any, size: int) -> list[tuple[int, int]]:
    """Character spans of consecutive pieces of about `size` tokens, ended at a line or sentence end if near."""
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    token_starts = [first for first, _ in offsets]
    spans, start, index = [], 0, size
    while start < len(text):
        end = len(text) if index >= len(offsets) else token_starts[index]
        piece = text[start:end]
        cut = max(piece.rfind("\n"), piece.rfind(". "))
        if end < len(text) and cut > len(piece) // 2:
            end = start + cut + 1
        spans.append((start, end))
        start = end
        index = bisect.bisect_left(token_starts, end) + size
    return [(s, e) for s, e in spans if text[s:e].strip()]


class GistMemory:
    kind = "gist"

    def __init__(self, config: MemoryConfig, model: Any = None, tokenizer: Any = None) -> None:
        self.config = config
        self.inner = KVMemory(config, model, tokenizer)  # the memory over the gists
        self.gists: list[Gist] = []
        self.sources: list[str] = []  # the source of every memorized document, in order (one inner segment each)

    @property
    def is_empty(self) -> bool:
        return self.inner.is_empty

    def write_gist(self, piece: str) -> str:
        """One gist of `piece`, greedy, at most `gist_tokens` tokens."""
        from transformers import DynamicCache

        tokenizer = self.inner.tokenizer
        prompt = tokenizer(chat_prompt(tokenizer, GIST_TASK.format(text=piece.strip())), add_special_tokens=False)
        options = DecodeOptions(max_new_tokens=self.config.gist_tokens)
        ids = decode(self.inner.model, DynamicCache(), prompt["input_ids"], 0, stop_ids(tokenizer), options)
        return " ".join(tokenizer.decode(ids, skip_special_tokens=True).split())

    def memorize(self, documents: Sequence[Document], progress: bool = False) -> dict[str, float]:
        from tqdm.auto import tqdm

        started = time.perf_counter()
        pieces = [(doc, span) for doc in documents
                  for span in split_by_tokens(doc.text, self.inner.tokenizer, self.config.gist_chunk_tokens)]
        new: list[Gist] = []
        for doc, (start, end) in tqdm(pieces, desc="gists", unit="piece", disable=not progress):
            text = self.write_gist(doc.text[start:end])
            fallback = not text
            if fallback:  # a tiny model sometimes writes nothing: keep the piece's head rather than lose it
                text = " ".join(doc.text[start:end].split())[: self.config.gist_tokens * 4]
            new.append(Gist(doc.source, start, end, text, fallback))
        gist_documents = [
            Document(source=doc.source, text="\n".join(g.text for g in new if g.source == doc.source))
            for doc in documents
        ]
        timings = {"gist": time.perf_counter() - started}
        timings.update(self.inner.memorize(gist_documents, progress=progress))
        self.gists += new
        self.sources += [doc.source for doc in documents]
        return timings

    def remove(self, documents: Sequence[int]) -> bool:
        """Drop the documents' gists and segments; False (nothing dropped) for a memory from before segments."""
        if len(self.sources) != len(self.inner.segments) or not self.inner.remove(documents):
            return False
        gone = {self.sources[d] for d in documents}
        self.sources = [source for d, source in enumerate(self.sources) if d not in set(documents)]
        self.gists = [g for g in self.gists if g.source not in gone or g.source in self.sources]
        return True

    @property
    def needs_routing(self) -> bool:
        return self.inner.needs_routing

    def focus(self, documents: Sequence[int]) -> tuple[int, ...]:
        return self.inner.focus(documents)

    def recall(self, question: str) -> list[Clue]:
        return self.inner.recall(question)

    def rewrite(self, question: str) -> list[Clue]:
        return self.inner.rewrite(question)

    def answer(self, question: str) -> str:
        return self.inner.answer(question)

    def summarize(self, count: int = 5) -> list[Clue]:
        return self.inner.summarize(count)

    def clues(self, question: str, kinds: Sequence[str] = CLUE_KINDS) -> list[Clue]:
        return self.inner.clues(question, kinds)  # one batch over the memory of the gists

    def describe(self) -> dict[str, Any]:
        gist_chars = sum(len(g.text) for g in self.gists)
        return {**self.inner.describe(), "entries": self.inner.entries, "kind": self.kind, "gists": len(self.gists), "gist_chars": gist_chars,
                "gist_chunk_tokens": self.config.gist_chunk_tokens}

    def save(self, directory: Path) -> dict[str, Any]:
        state = self.inner.save(directory)
        payload = json.dumps([asdict(g) for g in self.gists], ensure_ascii=False, indent=1)
        (directory / GISTS_FILE).write_text(payload, encoding="utf-8")
        return {**state, **self.describe(), "gists_file": GISTS_FILE, "gist_documents": self.sources}

    @classmethod
    def load(
        cls, directory: Path, state: dict[str, Any], config: MemoryConfig, model: Any = None, tokenizer: Any = None
    ) -> GistMemory:
        memory = cls(config, model, tokenizer)
        memory.inner = KVMemory.load(directory, state, config, memory.inner.model, memory.inner.tokenizer)
        memory.gists = read_gists(directory)
        memory.sources = list(state.get("gist_documents", []))  # absent before segments: cannot remove one
        if len(memory.gists) != state.get("gists"):
            raise StoreCorruptError(f"{directory / GISTS_FILE} holds {len(memory.gists)} gists, the manifest "
                                    f"{state.get('gists')}: the store is damaged; memorize again")
        return memory


def read_gists(directory: Path) -> list[Gist]:
    path = Path(directory) / GISTS_FILE
    try:
        return [Gist(**row) for row in json.loads(path.read_text(encoding="utf-8"))]
    except FileNotFoundError:
        raise StoreCorruptError(f"{path} is missing: the store is incomplete; memorize again") from None
    except (ValueError, TypeError) as exc:
        raise StoreCorruptError(f"{path} is unreadable ({exc}); memorize again") from exc
