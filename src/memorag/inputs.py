"""Turn what users hand to `memorize` (texts, files, folders) into Documents, refusing what holds no text.

A `str` is text; a `pathlib.Path` is a file, or a folder whose files are read in sorted order (hidden files
skipped). Files go through memorag.formats (PDF, DOCX, HTML, Markdown, text: told by content). A file named
on its own that cannot be read raises its error; a file inside a folder that cannot be read is skipped and
reported in `InputBatch.skipped`, so one scan or broken download does not stop a folder.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from memorag.errors import EmptyInputError, MemoRAGError
from memorag.formats import decode_text, extract
from memorag.types import Document

Input = str | Path | Document


@dataclass(frozen=True)
class SkippedFile:
    """A file inside a folder that was not memorized, and why (the error's message)."""

    path: str
    reason: str


@dataclass
class InputBatch:
    """The documents read from the inputs, in order, and the folder files skipped on the way."""

    documents: list[Document] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)


def read_text_file(path: Path, encoding: str = "utf-8") -> str:
    """A text file's content, refusing binary, mis-encoded and empty files (no format extraction)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    return decode_text(path, path.read_bytes(), encoding)


def read_document(path: Path, encoding: str = "utf-8") -> Document:
    """One file as a Document: its extracted text and, for a PDF, where its pages start."""
    extracted = extract(path, encoding)
    return Document(source=str(path), text=extracted.text, pages=extracted.pages)


def _expand(item: Input) -> tuple[Iterable[Path | Document | str], bool]:
    """The parts of one input, and whether they came from a folder (whose bad files are skipped)."""
    if isinstance(item, Path) and item.is_dir():
        files = sorted(
            p
            for p in item.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(item).parts)
        )
        if not files:
            raise EmptyInputError(f"{item} holds no files to memorize")
        return files, True
    return [item], False


def _to_document(part: Path | Document | str, name: str, encoding: str) -> Document:
    if isinstance(part, Document):
        document = part
    elif isinstance(part, Path):
        document = read_document(part, encoding)
    elif isinstance(part, str):
        document = Document(source=name, text=part)
    else:
        raise TypeError(f"cannot memorize a {type(part).__name__}: give str text, a Path or a Document")
    if not document.text.strip():
        raise EmptyInputError(f"{document.source} is empty (or only white space): nothing to memorize")
    return document


def read_inputs(
    inputs: Input | Sequence[Input], encoding: str = "utf-8", first_number: int = 0
) -> InputBatch:
    """Documents in the given order, and the folder files skipped (with their reasons).

    Raises EmptyInputError / InputDecodeError / UnsupportedInputError naming a bad text or file given on its
    own, and EmptyInputError when nothing at all could be read.
    """
    items = [inputs] if isinstance(inputs, (str, Path, Document)) else list(inputs)
    if not items:
        raise EmptyInputError("nothing to memorize: give at least one text or file")
    batch = InputBatch()
    for number, item in enumerate(items):
        parts, in_folder = _expand(item)
        for part in parts:
            try:
                batch.documents.append(_to_document(part, f"text-{first_number + number}", encoding))
            except MemoRAGError as exc:
                if not in_folder:
                    raise
                batch.skipped.append(SkippedFile(str(part), str(exc)))
    if not batch.documents:
        reasons = "; ".join(s.reason for s in batch.skipped)
        raise EmptyInputError(f"nothing to memorize: every file was skipped ({reasons})")
    return batch


def to_documents(
    inputs: Input | Sequence[Input], encoding: str = "utf-8", first_number: int = 0
) -> list[Document]:
    """The documents of `read_inputs`, leaving out the list of skipped folder files."""
    return read_inputs(inputs, encoding, first_number).documents
