"""A lexical (BM25) index over the chunk texts, beside the FAISS one, with `bm25s` (scipy sparse scores).

Tokens: the text is NFKC-normalized and case-folded; a run of letters, digits and their combining marks is
a word, stop words of `language` are dropped (where bm25s lists them) and the rest stemmed with PyStemmer's
Snowball stemmer for `language` ("none": no stemming). Scripts written without spaces (Han, kana; Thai, Lao,
Khmer, Myanmar) have no words to split, so each character and each pair of neighbouring characters is a
token (unigrams + bigrams, as Lucene's CJK analyzers do): a Chinese or Japanese query matches the passage
that shares its words without a word segmenter.

Saved as a folder `lexical/` in the retriever's directory: bm25s's own files (`*.index.npy`, plain numeric
arrays written and read with allow_pickle=False; vocabulary and BM25 parameters as JSON) and `tokens.json`,
our format and tokenizer settings. It is written beside its final name and renamed in.
Does not handle: incremental updates (BM25's idf is corpus-wide, so adding chunks rebuilds the index),
phrase or proximity queries, combining marks outside the Basic Multilingual Plane, searching one index from
several threads at once (PyStemmer's stemmers are not thread-safe).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from memorag.errors import StoreCorruptError

FORMAT = "memorag-lexical v1"
TOKENS = "stems, unspaced unigrams+bigrams v1"  # change it with LexicalTokenizer: saved indexes then rebuild
FOLDER = "lexical"
TOKENS_FILE = "tokens.json"
UNSPACED = (
    "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff"  # Thai, Lao, Myanmar, Khmer
    "\u3005\u3006\u3040-\u30ff\u31f0-\u31ff"  # 々, 〆, hiragana, katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"  # Han
)
UNSPACED_RUN = re.compile(f"[{UNSPACED}]+")
STOPWORD_LISTS = {
    "english": "EN",
    "danish": "DANISH",
    "dutch": "DUTCH",
    "french": "FRENCH",
    "german": "GERMAN",
    "italian": "ITALIAN",
    "norwegian": "NORWEGIAN",
    "portuguese": "PORTUGUESE",
    "russian": "RUSSIAN",
    "spanish": "SPANISH",
    "swedish": "SWEDISH",
    "turkish": "TURKISH",
}


@functools.cache
def _word_run() -> re.Pattern[str]:
    # Python's \w leaves out combining marks, which would cut Hindi or Arabic words apart: add them back
    marks = "".join(chr(c) for c in range(0x300, 0x10000) if unicodedata.category(chr(c)).startswith("M"))
    return re.compile(f"[^\\W_](?:[^\\W_]|[{re.escape(marks)}])*")


def _bm25s() -> Any:
    import bm25s  # imported on first use (about 0.4 s), so `import memorag` does not load it

    return bm25s


class LexicalTokenizer:
    """Text -> BM25 tokens for one language; the same function reads chunks and queries."""

    def __init__(self, language: str = "english") -> None:
        import Stemmer

        if language != "none" and language not in Stemmer.algorithms():
            raise ValueError(
                f"language {language!r} has no stemmer; use one of {Stemmer.algorithms()} or 'none'"
            )
        self.language = language
        self._stemmer = None if language == "none" else Stemmer.Stemmer(language)
        name = STOPWORD_LISTS.get(language)
        self._stopwords = frozenset(getattr(_bm25s().stopwords, f"STOPWORDS_{name}")) if name else frozenset()

    def __call__(self, text: str) -> list[str]:
        words: list[str] = []
        pieces: list[str] = []  # tokens of scripts without spaces
        for run in _word_run().findall(unicodedata.normalize("NFKC", text).casefold()):
            begin = 0
            for unspaced in UNSPACED_RUN.finditer(run):
                words.append(run[begin : unspaced.start()])
                chars = unspaced.group()
                pieces += [*chars, *(chars[i : i + 2] for i in range(len(chars) - 1))]
                begin = unspaced.end()
            words.append(run[begin:])
        words = [word for word in words if word and word not in self._stopwords]
        return (self._stemmer.stemWords(words) if self._stemmer else words) + pieces


class LexicalIndex:
    """BM25 over texts 0, 1, 2, ... (the chunks, in id order)."""

    def __init__(self, language: str = "english") -> None:
        self.tokenize = LexicalTokenizer(language)
        self._bm25: Any = None  # None while no text holds a token
        self._size = 0

    def __len__(self) -> int:
        return self._size

    @classmethod
    def build(cls, texts: Sequence[str], language: str = "english") -> LexicalIndex:
        index = cls(language)
        corpus = [index.tokenize(text) for text in texts]
        index._size = len(corpus)
        if any(corpus):
            index._bm25 = _bm25s().BM25()
            with np.errstate(divide="ignore", invalid="ignore"):  # a text without tokens divides 0 by 0
                index._bm25.index(corpus, show_progress=False)
        return index

    def search(self, queries: Sequence[str], k: int) -> list[list[tuple[int, float]]]:
        """Per query its best k (text id, BM25 score) hits, best first; only texts sharing a token with it."""
        if k < 1:
            raise ValueError(f"k must be at least 1, not {k}")
        return [self._search_one(query, k) for query in queries]

    def _search_one(self, query: str, k: int) -> list[tuple[int, float]]:
        if self._bm25 is None:
            return []
        tokens = list(dict.fromkeys(self.tokenize(query)))  # BM25 sums over distinct query terms
        token_ids = self._bm25.get_tokens_ids(tokens)  # tokens no text holds are dropped
        if not token_ids:
            return []
        scores = np.asarray(self._bm25.get_scores(token_ids))  # (n_texts,)
        best = np.argsort(-scores, kind="stable")[:k]  # ties: lower id first
        return [(int(i), float(scores[i])) for i in best if scores[i] > 0]

    def _settings(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "tokens": TOKENS,
            "language": self.tokenize.language,
            "texts": self._size,
            "scored": self._bm25 is not None,  # False: no text held a token, so bm25s wrote nothing
        }

    def save(self, directory: Path) -> None:
        """Write `directory/lexical/` whole: built in a temporary sibling folder, then renamed into place."""
        final = Path(directory) / FOLDER
        temporary = final.with_name(f".{FOLDER}.tmp-{os.getpid()}")
        old = final.with_name(f".{FOLDER}.old-{os.getpid()}")
        shutil.rmtree(temporary, ignore_errors=True)
        try:
            temporary.mkdir(parents=True)
            if self._bm25 is not None:
                self._bm25.save(temporary, allow_pickle=False, show_progress=False)
            (temporary / TOKENS_FILE).write_text(json.dumps(self._settings()), encoding="utf-8")
            if final.exists():
                final.rename(old)
            temporary.rename(final)
        except BaseException:
            if old.exists() and not final.exists():
                old.rename(final)  # keep the index that was there
            raise
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, directory: Path, texts: Sequence[str], language: str = "english") -> LexicalIndex:
        """The index saved in `directory/lexical/`, or one built from `texts` when there is none or it was
        made by another tokenizer or language (stores from before the lexical index). StoreCorruptError when
        the saved one is unreadable or indexes another number of texts."""
        folder = Path(directory) / FOLDER
        saved = _read_settings(folder)
        index = cls(language)
        current = index._settings()
        if saved is None or any(saved.get(key) != current[key] for key in ("format", "tokens", "language")):
            return cls.build(texts, language)
        if saved["texts"] != len(texts):
            raise _corrupt(folder, f"indexes {saved['texts']} texts, not the {len(texts)} chunks")
        index._size = len(texts)
        if saved.get("scored", True):
            index._bm25 = _load_bm25(folder)
            scored = getattr(index._bm25, "scores", {}).get("num_docs")
            if scored != len(texts):
                raise _corrupt(folder, f"scores {scored} texts, not the {len(texts)} chunks")
        return index


def _load_bm25(folder: Path) -> Any:
    try:
        return _bm25s().BM25.load(folder, allow_pickle=False, mmap=False, show_progress=False)
    except (OSError, EOFError, ValueError, TypeError, KeyError) as exc:  # JSONDecodeError is a ValueError
        raise _corrupt(folder, f"is unreadable ({exc})") from exc


def _corrupt(folder: Path, problem: str) -> StoreCorruptError:
    return StoreCorruptError(
        f"lexical index {folder} {problem}; delete that folder to rebuild it from chunks.json"
    )


def _read_settings(folder: Path) -> dict[str, Any] | None:
    path = folder / TOKENS_FILE
    if not path.is_file():
        return None
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _corrupt(folder, f"is unreadable ({exc})") from exc
    if not isinstance(settings, dict) or not isinstance(settings.get("texts"), int):
        raise _corrupt(folder, f"has an unexpected {TOKENS_FILE}")
    return settings
