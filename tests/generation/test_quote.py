"""Quote answers: sentences split with their offsets, the judge's best one quoted with its passage number."""

from __future__ import annotations

from collections.abc import Sequence

from memorag.generation.quote import best_quote, quote_text, sentences
from memorag.types import Chunk, EvidencePassage

DOC = "Intro words here. The vault opens with code QX-4471! Ask the keeper.\nA heading\nAnother line of text here."


def _evidence() -> list[EvidencePassage]:
    first = Chunk(0, 0, "a.txt", 0, 52, DOC[:52])
    second = Chunk(1, 0, "a.txt", 52, len(DOC), DOC[52:])
    return [EvidencePassage(first, 0.3), EvidencePassage(second, 0.2)]


class WordJudge:
    """Scores a sentence by how many question words it holds (a stand-in for the LM judge)."""

    def score(self, question: str, texts: Sequence[str]) -> list[float]:
        words = set(question.lower().split())
        return [float(len(words & set(text.lower().split()))) for text in texts]


def test_sentences_keep_document_offsets_and_drop_fragments() -> None:
    found = sentences(_evidence())
    assert [q.text for q in found] == ["Intro words here.", "The vault opens with code QX-4471!",
                                       "Ask the keeper.", "Another line of text here."]
    for quote in found:
        assert DOC[quote.start : quote.end] == quote.text
    assert [q.passage for q in found] == [1, 1, 2, 2]


def test_best_quote_is_the_judges_choice_with_its_passage() -> None:
    quote = best_quote("which code opens the vault", _evidence(), WordJudge())
    assert quote is not None and quote.text == "The vault opens with code QX-4471!" and quote.score == 4.0
    assert quote_text(quote) == '"The vault opens with code QX-4471!" [1]'


def test_no_evidence_no_quote() -> None:
    assert best_quote("anything", [], WordJudge()) is None and quote_text(None) == ""
