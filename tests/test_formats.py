"""memorize's input formats: told by content, text extracted, unreadable files refused or (in a folder) skipped.

Every fixture file is generated here (fpdf2 for PDFs, python-docx for DOCX): no binary blobs in the repository.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memorag.errors import EmptyInputError, UnsupportedInputError
from memorag.formats import detect_format, extract
from memorag.inputs import read_inputs, to_documents
from memorag.types import Document

fpdf = pytest.importorskip("fpdf")

PAGE_ONE = "The lighthouse at Cape Sorrow was built in 1871 by the engineer Maren Holt."
PAGE_TWO = "Its lamp burned whale oil until 1904, when the keeper switched to kerosene."
ARTICLE = (
    "<!DOCTYPE html><html><head><title>Harbour</title><script>var tracking = 'do not keep';</script>"
    "<style>p { color: red }</style></head><body><nav><a href='/'>Home</a></nav><article><h1>The harbour</h1>"
    "<p>The harbour master Ilse Brand counted forty-two fishing boats on the morning of the storm.</p>"
    "<p>By evening every boat had returned safely to the inner basin behind the breakwater.</p></article>"
    "<script>alert('nor this')</script></body></html>"
)


def make_pdf(pages: list[str], user_password: str | None = None) -> bytes:
    pdf = fpdf.FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 10, text)
    if user_password is not None:
        pdf.set_encryption(owner_password="owner", user_password=user_password)
    return bytes(pdf.output())


def make_docx(path: Path, paragraphs: list[str], table: list[list[str]] | None = None) -> Path:
    import docx

    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        cells = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, text in enumerate(row):
                cells.cell(r, c).text = text
    document.save(str(path))
    return path


def test_pdf_pages_are_joined_and_their_starts_kept(tmp_path: Path):
    path = tmp_path / "two.pdf"
    path.write_bytes(make_pdf([PAGE_ONE, PAGE_TWO]))
    extracted = extract(path)
    assert extracted.format == "pdf" and extracted.pages == (0, len(PAGE_ONE) + 2)
    assert extracted.text == f"{PAGE_ONE}\n\n{PAGE_TWO}"
    document = to_documents(path)[0]
    assert document.pages == extracted.pages
    assert document.page_at(0) == 1 and document.page_at(document.text.index("kerosene")) == 2
    assert Document("a", "b").page_at(0) is None


def test_encrypted_pdf_names_the_file_and_says_decrypt(tmp_path: Path):
    path = tmp_path / "locked.pdf"
    path.write_bytes(make_pdf([PAGE_ONE], user_password="secret"))
    with pytest.raises(UnsupportedInputError, match=r"locked\.pdf is an encrypted PDF: decrypt it"):
        extract(path)


def test_pdf_without_text_layer_says_run_ocr(tmp_path: Path):
    path = tmp_path / "scan.pdf"
    path.write_bytes(make_pdf(["", ""]))
    with pytest.raises(UnsupportedInputError, match=r"scan\.pdf is a PDF without a text layer.*OCR"):
        extract(path)


@pytest.mark.parametrize("keep", [0.5, 0.1])
def test_truncated_pdf_is_corrupt(tmp_path: Path, keep: float):
    data = make_pdf([PAGE_ONE, PAGE_TWO])
    path = tmp_path / "broken.pdf"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(UnsupportedInputError, match=r"broken\.pdf is a corrupt or truncated PDF"):
        extract(path)


def test_docx_paragraphs_and_table_cells(tmp_path: Path):
    path = make_docx(
        tmp_path / "notes.docx",
        ["First paragraph.", "", "Second paragraph."],
        table=[["Name", "Year"], ["Holt", "1871"]],
    )
    extracted = extract(path)
    assert extracted.format == "docx" and extracted.pages == ()
    assert extracted.text == "First paragraph.\n\nSecond paragraph.\n\nName | Year\nHolt | 1871"


def test_html_main_text_without_tags_or_scripts(tmp_path: Path):
    path = tmp_path / "page.htm"
    path.write_text(ARTICLE, encoding="utf-8")
    extracted = extract(path)
    assert extracted.format == "html"
    assert "forty-two fishing boats" in extracted.text and "inner basin" in extracted.text
    assert "<" not in extracted.text and "tracking" not in extracted.text and "alert" not in extracted.text


def test_html_without_text_is_refused(tmp_path: Path):
    path = tmp_path / "app.html"
    path.write_text(
        "<html><head><script src='app.js'></script></head><body><div id='root'></div></body></html>"
    )
    with pytest.raises(EmptyInputError, match=r"app\.html is an HTML page without main text"):
        extract(path)


def test_format_is_told_by_content_not_name(tmp_path: Path):
    disguised = tmp_path / "report.txt"
    disguised.write_bytes(make_pdf([PAGE_ONE]))
    assert extract(disguised).format == "pdf" and extract(disguised).text == PAGE_ONE
    docx_named_bin = make_docx(tmp_path / "letter.bin", ["Dear reader."])
    assert extract(docx_named_bin).text == "Dear reader."
    assert detect_format(Path("x.txt"), b"  \n<!doctype html><p>hi</p>") == "html"
    assert detect_format(Path("x.html"), b"<p>a fragment</p>") == "html"
    assert detect_format(Path("x.txt"), b"<p>markup in a text file stays text</p>") == "text"
    assert detect_format(Path("x.md"), b"# Title\n\ntext") == "markdown"
    assert detect_format(Path("x.docx"), b"PK\x03\x04 not really a zip") == "text"


def test_folder_reads_every_format_and_lists_the_broken_file(tmp_path: Path):
    (tmp_path / "a.pdf").write_bytes(make_pdf([PAGE_ONE, PAGE_TWO]))
    make_docx(tmp_path / "b.docx", ["A paragraph from Word."])
    (tmp_path / "c.html").write_text(ARTICLE, encoding="utf-8")
    (tmp_path / "d.md").write_text("# Notes\n\nMarkdown stays as written.", encoding="utf-8")
    (tmp_path / "e.txt").write_text("Plain text.", encoding="utf-8")
    (tmp_path / "f.pdf").write_bytes(make_pdf([PAGE_ONE])[:200])
    batch = read_inputs(tmp_path)
    assert [Path(d.source).name for d in batch.documents] == ["a.pdf", "b.docx", "c.html", "d.md", "e.txt"]
    assert batch.documents[0].pages == (0, len(PAGE_ONE) + 2) and batch.documents[1].pages == ()
    assert batch.documents[3].text == "# Notes\n\nMarkdown stays as written."
    assert [Path(s.path).name for s in batch.skipped] == ["f.pdf"]
    assert "corrupt or truncated PDF" in batch.skipped[0].reason
    with pytest.raises(UnsupportedInputError, match="f.pdf"):  # named on its own, a bad file is an error
        read_inputs(tmp_path / "f.pdf")
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "g.pdf").write_bytes(b"%PDF-1.4 broken")
    with pytest.raises(EmptyInputError, match="every file was skipped"):
        read_inputs(tmp_path / "only")


def test_store_keeps_pages_and_reads_old_documents(tmp_path: Path):
    from memorag.store import _document_row, read_documents

    documents = [Document("a.pdf", "one\n\ntwo", pages=(0, 5)), Document("b.txt", "plain")]
    rows = [_document_row(d) for d in documents]
    assert "pages" not in rows[1]  # stores of unpaged texts are written as before
    (tmp_path / "documents.json").write_text(json.dumps(rows), encoding="utf-8")
    assert read_documents(tmp_path) == documents
    (tmp_path / "documents.json").write_text(json.dumps([{"source": "old", "text": "t"}]), encoding="utf-8")
    assert read_documents(tmp_path) == [Document("old", "t")]


def test_cli_exits_2_on_an_encrypted_pdf_before_any_model_loads(tmp_path: Path):
    from click.testing import CliRunner

    from memorag.cli import cli

    path = tmp_path / "locked.pdf"
    path.write_bytes(make_pdf([PAGE_ONE], user_password="secret"))
    result = CliRunner().invoke(cli, ["memorize", str(path), "--store", str(tmp_path / "s")])
    assert result.exit_code == 2 and "encrypted PDF" in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_cli_memorizes_a_folder_of_formats_and_answers_from_the_pdf(tmp_path: Path):
    from click.testing import CliRunner

    from memorag.cli import cli

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "history.pdf").write_bytes(make_pdf([PAGE_ONE, PAGE_TWO]))
    make_docx(folder / "minutes.docx", ["The town council met on Tuesday to discuss the new bakery."])
    (folder / "harbour.html").write_text(ARTICLE, encoding="utf-8")
    (folder / "notes.md").write_text("# Garden\n\nThe tomatoes ripened late this year.", encoding="utf-8")
    (folder / "scan.pdf").write_bytes(make_pdf([""]))
    store = tmp_path / "store"
    runner = CliRunner()
    result = runner.invoke(cli, ["memorize", str(folder), "--store", str(store), "--json"])
    assert result.exit_code == 0, result.output
    assert [Path(s["path"]).name for s in json.loads(result.stdout)["skipped"]] == ["scan.pdf"]
    result = runner.invoke(
        cli,
        [
            "ask",
            str(store),
            "Who built the lighthouse at Cape Sorrow?",
            "--mode",
            "rag",
            "--max-new-tokens",
            "16",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    best = max(answer["evidence"], key=lambda e: e["score"])  # evidence is listed in document order
    assert best["chunk"]["source"].endswith("history.pdf") and "Maren Holt" in best["chunk"]["text"]
    assert "Holt" in answer["answer"]
