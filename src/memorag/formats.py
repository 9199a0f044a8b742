"""Tell a file's format by its content and extract its text: PDF, DOCX, HTML, Markdown or plain text.

The content decides, not the name: `%PDF-` is a PDF and a zip holding `word/document.xml` a DOCX whatever the
file is called; HTML is text that opens with `<!doctype html`, `<html`, `<head` or `<body`, or a .html/.htm
file holding markup. Everything else is read as text (Markdown stays as written). Leaves out: OCR of scanned
PDFs, decrypting PDFs, legacy .doc, spreadsheets and slides, and HTML that only JavaScript fills in.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from memorag.errors import EmptyInputError, InputDecodeError, UnsupportedInputError

FORMATS = ("pdf", "docx", "html", "markdown", "text")
PAGE_SEPARATOR = "\n\n"
_HTML_START = re.compile(
    rb"\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)[\s>]", re.IGNORECASE | re.DOTALL
)
_MARKUP = re.compile(r"<[a-zA-Z!/][^>]*>")


@dataclass(frozen=True)
class Extracted:
    """A file's text, its format and, for a PDF, the character offset where each page starts (page 1 first)."""

    text: str
    format: str
    pages: tuple[int, ...] = ()


def detect_format(path: Path, data: bytes) -> str:
    """One of FORMATS, from the bytes first and the name only to tell HTML or Markdown from plain text."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04") and _is_docx(data):
        return "docx"
    head = data[:4096].removeprefix(b"\xef\xbb\xbf")
    if _HTML_START.match(head):
        return "html"
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm") and _MARKUP.search(head.decode("utf-8", "replace")):
        return "html"
    return "markdown" if suffix in (".md", ".markdown") else "text"


def _is_docx(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "word/document.xml" in archive.namelist()
    except zipfile.BadZipFile:
        return False


def extract(path: Path, encoding: str = "utf-8") -> Extracted:
    """The text of the file at `path`; raises a MemoRAGError naming the file and what to do when there is none."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    data = path.read_bytes()
    kind = detect_format(path, data)
    if kind == "pdf":
        return _extract_pdf(path, data)
    if kind == "docx":
        return Extracted(_extract_docx(path, data), kind)
    text = decode_text(path, data, encoding)
    if kind == "html":
        return Extracted(_extract_html(path, text), kind)
    return Extracted(text, kind)


def decode_text(path: Path, data: bytes, encoding: str = "utf-8") -> str:
    """`data` as text in `encoding` (UTF-8 with or without a BOM by default), refusing binary and empty files."""
    if b"\x00" in data[:8192]:
        raise InputDecodeError(
            f"{path} looks binary (it holds NUL bytes): give memorag text, Markdown, HTML, PDF or DOCX files"
        )
    try:
        text = data.decode("utf-8-sig" if encoding.lower().replace("_", "-") == "utf-8" else encoding)
    except UnicodeDecodeError as exc:
        raise InputDecodeError(
            f"{path} is not valid {encoding} (byte {exc.start}): pass its encoding "
            "(--encoding latin-1, encoding='cp1252', ...) or convert it, e.g. `iconv -f latin1 -t utf-8`"
        ) from None
    except LookupError:
        raise InputDecodeError(f"unknown encoding {encoding!r}") from None
    if not text.strip():
        raise EmptyInputError(f"{path} is empty (or only white space): nothing to memorize")
    return text


def _extract_pdf(path: Path, data: bytes) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):  # "" opens PDFs locked only against editing
            raise UnsupportedInputError(
                f"{path} is an encrypted PDF: decrypt it first (e.g. `qpdf --decrypt --password=... in.pdf "
                "out.pdf`) and memorize the decrypted copy"
            )
        texts = [(page.extract_text() or "").strip() for page in reader.pages]
    except UnsupportedInputError:
        raise
    except DependencyError as exc:
        raise UnsupportedInputError(
            f"{path}: reading this PDF needs {exc}; `pip install cryptography`"
        ) from None
    # pypdf raises many kinds (PdfReadError, KeyError, ValueError, ...) on broken files
    except Exception as exc:  # noqa: BLE001
        raise UnsupportedInputError(
            f"{path} is a corrupt or truncated PDF ({type(exc).__name__}: {exc}): download or export it again"
        ) from None
    if not texts:
        raise UnsupportedInputError(f"{path} is a PDF without pages: download or export it again")
    if not any(texts):
        raise UnsupportedInputError(
            f"{path} is a PDF without a text layer (a scan?): run OCR first (e.g. `ocrmypdf in.pdf out.pdf`) "
            "and memorize the result"
        )
    starts, offset = [], 0
    for text in texts:
        starts.append(offset)
        offset += len(text) + len(PAGE_SEPARATOR)
    return Extracted(PAGE_SEPARATOR.join(texts), "pdf", tuple(starts))


def _extract_docx(path: Path, data: bytes) -> str:
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
        blocks = []
        for block in document.iter_inner_content():  # paragraphs and tables in reading order
            blocks.append(_table_text(block) if isinstance(block, Table) else block.text.strip())
    # python-docx raises KeyError, lxml and zip errors on broken packages
    except Exception as exc:  # noqa: BLE001
        raise UnsupportedInputError(
            f"{path} is a corrupt DOCX ({type(exc).__name__}: {exc}): save it again from its editor"
        ) from None
    text = "\n\n".join(block for block in blocks if block)
    if not text.strip():
        raise EmptyInputError(f"{path} is a DOCX without text: nothing to memorize")
    return text


def _table_text(table: object) -> str:
    """One line per row, cells joined by " | " (a merged cell appears once)."""
    lines = []
    for row in table.rows:  # type: ignore[attr-defined]
        cells: list[str] = []
        for cell in row.cells:
            text = cell.text.strip()
            if text and (not cells or cells[-1] != text):
                cells.append(text)
        if cells:
            lines.append(" | ".join(cells))
    return "\n".join(lines)


def _extract_html(path: Path, html: str) -> str:
    import trafilatura

    text = trafilatura.extract(html, include_comments=False, include_tables=True, favor_recall=True)
    if not text or not text.strip():
        raise EmptyInputError(
            f"{path} is an HTML page without main text (scripts, navigation or nothing): if a browser fills it "
            "in, save the rendered page or copy its text into a .txt file and memorize that"
        )
    return text
