"""The lexical index: tokens (stems, stop words, scripts without spaces), BM25 search, save/load without pickle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from memorag.errors import StoreCorruptError
from memorag.retrieval.lexical import LexicalIndex, LexicalTokenizer

TEXTS = [
    "The volcano erupted and lava covered the village.",
    "She tuned the violin before the concert.",
    "长城是中国古代的军事防御工程，全长两万多公里。",
    "北京是中华人民共和国的首都。",
    "東京タワーは東京都港区にある電波塔です。",
    "Farmers brought the wheat harvest into the barn.",
]


@pytest.fixture(scope="module")
def index() -> LexicalIndex:
    return LexicalIndex.build(TEXTS)


def test_english_words_are_stemmed_and_stop_words_dropped() -> None:
    tokenize = LexicalTokenizer("english")
    assert tokenize("The volcanoes ERUPTED, running!") == ["volcano", "erupt", "run"]
    assert LexicalTokenizer("none")("The volcanoes") == ["the", "volcanoes"]
    with pytest.raises(ValueError, match="no stemmer"):
        LexicalTokenizer("klingon")


def test_scripts_without_spaces_give_characters_and_bigrams() -> None:
    tokenize = LexicalTokenizer("english")
    assert tokenize("长城很长") == ["长", "城", "很", "长", "长城", "城很", "很长"]
    assert tokenize("iPhone手机") == ["iphon", "手", "机", "手机"]
    assert "タワ" in tokenize("東京タワー") and "東京" in tokenize("東京タワー")
    assert tokenize("हिन्दी भाषा") == ["हिन्दी", "भाषा"]  # combining vowel signs stay inside their word


def test_english_query_finds_its_passage(index: LexicalIndex) -> None:
    [hits] = index.search(["When did the volcanoes erupt?"], k=3)
    assert hits[0][0] == 0 and len(hits) == 1  # only texts that share a token are hits


def test_chinese_and_japanese_queries_find_the_passage_with_their_words(index: LexicalIndex) -> None:
    chinese, japanese = index.search(["长城有多长？", "東京タワーはどこ"], k=2)
    assert chinese[0][0] == 2 and japanese[0][0] == 4
    scores = [score for _, score in chinese]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("query", ["", "   ", "?!", "……。", "the of and"])
def test_queries_without_tokens_give_no_hits(index: LexicalIndex, query: str) -> None:
    assert index.search([query], k=3) == [[]]


def test_texts_without_tokens_build_an_index_with_no_hits(tmp_path: Path) -> None:
    empty = LexicalIndex.build(["", "!!!"])
    assert len(empty) == 2 and empty.search(["anything"], k=1) == [[]]
    empty.save(tmp_path)
    assert LexicalIndex.load(tmp_path, ["", "!!!"]).search(["anything"], k=1) == [[]]
    with pytest.raises(ValueError):
        empty.search(["anything"], k=0)


def test_save_load_round_trip_without_pickle(index: LexicalIndex, tmp_path: Path) -> None:
    index.save(tmp_path)
    files = sorted((tmp_path / "lexical").iterdir())
    arrays = [path for path in files if path.suffix in (".npy", ".npz")]
    assert arrays and all(path.suffix in (".npy", ".json") for path in files)
    for path in arrays:
        assert np.load(path, allow_pickle=False).dtype.kind in "iuf"  # plain numbers: pickle never needed
    for path in files:
        if path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
    loaded = LexicalIndex.load(tmp_path, TEXTS)
    queries = ["violin concert", "长城", "北京首都", "wheat"]
    assert loaded.search(queries, k=3) == index.search(queries, k=3)
    index.save(tmp_path)  # saving over an earlier index replaces it whole
    assert sorted((tmp_path / "lexical").iterdir()) == files and not list(tmp_path.glob(".lexical*"))


def test_a_directory_without_the_index_builds_it(index: LexicalIndex, tmp_path: Path) -> None:
    built = LexicalIndex.load(tmp_path, TEXTS)
    assert not (tmp_path / "lexical").exists()  # built in memory; written by the next save
    assert built.search(["lava village"], k=2) == index.search(["lava village"], k=2)


def test_an_index_of_another_tokenizer_or_language_is_rebuilt(index: LexicalIndex, tmp_path: Path) -> None:
    index.save(tmp_path)
    settings_file = tmp_path / "lexical" / "tokens.json"
    settings = json.loads(settings_file.read_text(encoding="utf-8"))
    settings_file.write_text(json.dumps({**settings, "tokens": "an older tokenizer"}), encoding="utf-8")
    assert LexicalIndex.load(tmp_path, TEXTS).search(["violin"], k=1) == index.search(["violin"], k=1)
    unstemmed = LexicalIndex.load(tmp_path, TEXTS, language="none")
    assert unstemmed.tokenize.language == "none" and unstemmed.search(["volcanoes"], k=1) == [[]]


def test_a_damaged_index_is_refused_with_what_to_do(index: LexicalIndex, tmp_path: Path) -> None:
    index.save(tmp_path)
    with pytest.raises(StoreCorruptError, match="delete that folder"):
        LexicalIndex.load(tmp_path, TEXTS[:-1])  # indexes 6 texts, the store has 5 chunks
    data = tmp_path / "lexical" / "data.csc.index.npy"
    data.write_bytes(data.read_bytes()[:20])
    with pytest.raises(StoreCorruptError, match="unreadable"):
        LexicalIndex.load(tmp_path, TEXTS)
    (tmp_path / "lexical" / "tokens.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(StoreCorruptError, match="unreadable"):
        LexicalIndex.load(tmp_path, TEXTS)
    shutil.rmtree(tmp_path / "lexical")
    assert len(LexicalIndex.load(tmp_path, TEXTS)) == len(TEXTS)  # what the message says works
