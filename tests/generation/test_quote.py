"""Quote answers: sentences split with their offsets, the judge's best one quoted with its passage number."""

from __future__ import annotations

from collections.abc import Sequence

from memorag.generation.quote import best_quote, quote_text, sentences, whole_sentence
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


def test_a_sentence_cut_by_a_passage_edge_is_completed_from_its_document() -> None:
    document = "First one here. The nonlocal statement binds names in the enclosing scope. Then more."
    cut = 44  # the passage ends inside the second sentence
    evidence = [EvidencePassage(Chunk(0, 0, "a.txt", 16, cut, document[16:cut]), 0.5)]
    judged = best_quote("what does the nonlocal statement bind", evidence, WordJudge())
    assert judged is not None and judged.text == "The nonlocal statement binds" and judged.end == cut
    whole = best_quote("what does the nonlocal statement bind", evidence, WordJudge(), [document])
    assert whole is not None and whole.text == "The nonlocal statement binds names in the enclosing scope."
    assert document[whole.start : whole.end] == whole.text and whole.passage == 1
    head = Chunk(0, 0, "a.txt", 20, 60, document[20:60])  # starts inside the sentence
    front = whole_sentence(sentences([EvidencePassage(head, 0.5)])[0], document)
    assert front.text.startswith("The nonlocal statement") and document[front.start:front.end] == front.text
    assert whole_sentence(judged, "another document entirely") == judged  # offsets that do not match: unchanged


def test_hard_wrapped_lines_stay_one_sentence() -> None:
    text = "The statement causes the listed names to refer to\npreviously bound variables.\nNext Heading Here now"
    found = sentences([EvidencePassage(Chunk(0, 0, "a.txt", 0, len(text), text), 0.5)])
    assert [q.text for q in found] == ["The statement causes the listed names to refer to\npreviously bound variables.",
                                       "Next Heading Here now"]
    assert quote_text(found[0]) == '"The statement causes the listed names to refer to previously bound variables." [1]'
