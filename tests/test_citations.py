"""Citations: `[n]` markers parsed, checked against the passages given (others dropped and counted), resolved to
source, page and lines; the same for generated and quote answers, in `ask`, its CLI output and its JSON.

All but the last test use fakes (no weights); the last memorizes a Markdown file and a PDF with the real embedded
models and checks that a quote answer cites page 2 of the PDF."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import memorag.pipeline
from memorag.cli import cli
from memorag.generation.citations import citation, cite, marker_numbers
from memorag.generation.quote import best_quote, quote_text
from memorag.pipeline import MemoRAG
from memorag.types import Answer, Chunk, Citation, Document, EvidencePassage

NOTES = "".join(f"Line {i} of the notes.\n" for i in range(1, 41))  # 40 lines, each 21 or 22 characters


def _passages(document: Document, spans: Sequence[tuple[int, int]], doc_id: int = 0) -> list[EvidencePassage]:
    return [EvidencePassage(Chunk(i, doc_id, document.source, start, end, document.text[start:end]), 1.0)
            for i, (start, end) in enumerate(spans)]


def _three() -> tuple[list[EvidencePassage], list[Document]]:
    document = Document("docs/notes.md", NOTES)
    return _passages(document, [(0, 40), (100, 200), (300, 400)]), [document]


class WordJudge:
    """Scores a sentence by how many question words it holds (a stand-in for the LM judge)."""

    def score(self, question: str, texts: Sequence[str]) -> list[float]:
        words = set(question.lower().split())
        return [float(len(words & set(text.lower().strip(".?").split()))) for text in texts]


# ----- parsing and checking ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "markers"), [
    ("Paris [2].", [2]),
    ("Paris [1, 3].", [1, 3]),
    ("Paris [1][2].", [1, 2]),
    ("Paris [2-3].", [2, 3]),
    ("Paris [3] and Lyon [1,2] [3].", [3, 1, 2]),  # each passage once, first cited first
])
def test_marker_forms_resolve_to_the_passages_they_name(text: str, markers: list[int]) -> None:
    evidence, documents = _three()
    cited = cite(text, evidence, documents)
    assert cited.text == text and cited.dropped == 0
    assert [c.marker for c in cited.citations] == markers
    assert [c.chunk_id for c in cited.citations] == [evidence[m - 1].chunk.chunk_id for m in markers]


def test_marker_numbers_reads_lists_and_ranges() -> None:
    assert marker_numbers("1, 3-4") == [(1, 1), (3, 4)] and marker_numbers("5–2") == [(2, 5)]


def test_citations_to_passages_not_given_are_dropped_and_counted() -> None:
    evidence, documents = _three()
    alone = cite("Paris [4]. Lyon [1] [0].", evidence, documents)
    assert alone.text == "Paris. Lyon [1]." and alone.dropped == 2 and [c.marker for c in alone.citations] == [1]
    mixed = cite("Paris [2-5], [3, 9]", evidence, documents)
    assert mixed.text == "Paris [2, 3], [3]" and mixed.dropped == 3
    assert cite("No passages [1].", [], []).text == "No passages." and cite("x [1]", [], []).dropped == 1


def test_no_marker_no_citation_and_quoted_markers_are_text() -> None:
    evidence, documents = _three()
    assert cite("Paris.", evidence, documents).citations == ()  # nothing cited: none invented
    quoted = cite('"Attention [12] is all you need." [2]', evidence, documents)
    assert quoted.text == '"Attention [12] is all you need." [2]' and quoted.dropped == 0
    assert [c.marker for c in quoted.citations] == [2]


# ----- resolution and labels -----------------------------------------------------------------------------------
def test_a_text_passage_resolves_to_its_line_range() -> None:
    document = Document("docs/notes.md", NOTES)
    start = NOTES.index("Line 12 ")
    end = NOTES.index("Line 15 ") + len("Line 15 of the notes.\n")  # ends with the newline of line 15
    found = citation(2, _passages(document, [(start, end)])[0].chunk, document)
    assert (found.first_line, found.last_line, found.page) == (12, 15, None)
    assert (found.start, found.end, found.source, found.marker) == (start, end, "docs/notes.md", 2)
    assert found.label() == "notes.md:L12-L15"


def test_a_paged_passage_resolves_to_the_page_it_starts_on() -> None:
    text = "Page one text.\n\nPage two starts here. It goes on.\n\nPage three."
    document = Document("/data/report.pdf", text, pages=(0, text.index("Page two"), text.index("Page three")))
    chunk = _passages(document, [(text.index("It goes"), len(text))])[0].chunk
    found = citation(1, chunk, document)
    assert found.page == 2 and found.label() == "report.pdf p.2"


def test_labels() -> None:
    assert Citation(1, "a/report.pdf", 4, 80, 90, 0, 10, 0).label() == "report.pdf p.4"
    assert Citation(2, "notes.md", None, 120, 135, 0, 10, 1).label() == "notes.md:L120-L135"
    assert Citation(3, "notes.md", None, 7, 7, 0, 10, 2).label() == "notes.md:L7"


# ----- in ask: generated and quote answers ---------------------------------------------------------------------
class Retriever:
    def __init__(self, evidence: list[EvidencePassage]) -> None:
        self.evidence = evidence

    def retrieve(self, queries: list[str], top_k: int, retriever: str | None = None) -> list[EvidencePassage]:
        return self.evidence[:top_k]


class Generator:
    def __init__(self, text: str) -> None:
        self.text = text
        self.messages: list[dict[str, str]] = []

    def generate(self, messages: list[dict[str, str]], **kwargs: Any) -> str:
        self.messages = messages
        return self.text


def _pipeline(text: str) -> MemoRAG:
    evidence, documents = _three()
    rag = MemoRAG()
    rag.documents, rag._retriever, rag._generator = documents, Retriever(evidence), Generator(text)
    return rag


def test_ask_keeps_valid_markers_and_drops_the_others() -> None:
    rag = _pipeline("Line 5 [2] [7].")
    answer = rag.ask("Which line?", mode="rag", answer="generate")
    assert answer.answer == "Line 5 [2]." and answer.dropped_citations == 1
    assert [(c.marker, c.label()) for c in answer.citations] == [(2, "notes.md:L5-L10")]
    assert "[1]" in rag.generator.messages[0]["content"]  # asked to cite
    assert answer.to_dict()["citations"][0]["first_line"] == 5  # JSON carries them
    assert rag.ask("Which line?", mode="full").citations == ()  # no numbered passages, no citations
    assert "[1]" not in rag.generator.messages[0]["content"]


def test_a_quote_answer_cites_its_passage() -> None:
    evidence, documents = _three()
    quote = best_quote("what is line 16 of the notes", evidence, WordJudge(), [d.text for d in documents])
    assert quote is not None and quote.passage == 3 and quote_text(quote) == '"Line 16 of the notes." [3]'
    rag = _pipeline("unused")
    rag.judge = lambda config=None: WordJudge()  # type: ignore[method-assign]
    answer = rag.ask("what is line 16 of the notes", mode="rag", answer="quote")
    assert answer.answer == '"Line 16 of the notes." [3]' and answer.dropped_citations == 0
    assert [(c.marker, c.chunk_id, c.label()) for c in answer.citations] == [(3, 2, "notes.md:L15-L19")]


# ----- the CLI -------------------------------------------------------------------------------------------------
class FakeRAG:
    """Answers with two citations and one dropped, without models."""

    @classmethod
    def load(cls, store: Any, *args: Any, **kwargs: Any) -> FakeRAG:
        return cls()

    def ask(self, question: str, **kwargs: Any) -> Answer:
        citations = (Citation(1, "/tmp/report.pdf", 4, 30, 41, 900, 1500, 7),
                     Citation(2, "notes.md", None, 120, 135, 4000, 4600, 12))
        return Answer(question, "In 1904 [1][2].", "memorag", citations=citations, dropped_citations=1)


def test_cli_ask_lists_the_sources(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(memorag.pipeline, "MemoRAG", FakeRAG)
    result = CliRunner().invoke(cli, ["ask", str(tmp_path), "When?"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[lines.index("Answer: In 1904 [1][2].") + 1:] == [
        "Sources:", "  [1] report.pdf p.4", "  [2] notes.md:L120-L135",
        "(1 citation to a passage not given was dropped)",
    ]
    data = json.loads(CliRunner().invoke(cli, ["ask", str(tmp_path), "When?", "--json"]).output)
    assert [c["page"] for c in data["citations"]] == [4, None] and data["dropped_citations"] == 1


# ----- the real embedded models --------------------------------------------------------------------------------
PDF_PAGES = [
    "The lighthouse at Cape Sorrow was built in 1871 by the engineer Maren Holt. It stands on a granite ledge.",
    "The lamp of the lighthouse burned whale oil until 1904, when the keeper switched to kerosene.",
]


@pytest.mark.slow
def test_a_quote_on_the_real_models_cites_page_two_of_the_pdf(tmp_path: Path) -> None:
    fpdf = pytest.importorskip("fpdf")
    from memorag.config import RetrievalConfig

    pdf = fpdf.FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in PDF_PAGES:
        pdf.add_page()
        pdf.multi_cell(0, 10, text)
    (tmp_path / "history.pdf").write_bytes(bytes(pdf.output()))
    garden = "".join(f"- Bed {i}: the gardener planted {i} rows of tulips and daffodils.\n" for i in range(1, 25))
    (tmp_path / "garden.md").write_text("# Garden notes\n\n" + garden, encoding="utf-8")
    # page one is 23 MiniLM tokens: 26-token chunks cut at its page break (a paragraph break in their last 20%)
    rag = MemoRAG(retrieval=RetrievalConfig(chunk_tokens=26, chunk_overlap=0))
    rag.memorize([tmp_path / "history.pdf", tmp_path / "garden.md"])
    answer = rag.ask("What fuel did the lamp of the lighthouse burn until 1904?", mode="rag", answer="quote")
    assert "whale oil" in answer.answer and answer.dropped_citations == 0
    (cited,) = answer.citations
    assert Path(cited.source).name == "history.pdf" and cited.page == 2 and cited.label() == "history.pdf p.2"
    assert answer.answer.endswith(f"[{cited.marker}]")


def test_uncited_drops_the_markers_for_scoring():
    from memorag.generation.citations import uncited

    assert uncited("Grace Hopper [1] built it [2, 3].") == "Grace Hopper built it."
    assert uncited("no markers") == "no markers"
