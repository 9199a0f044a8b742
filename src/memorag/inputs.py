"""Turn what users hand to `memorize` (texts, files, folders) into Documents, refusing what is not text.

A `str` is text; a `pathlib.Path` is a file, or a folder whose files are read in sorted order (hidden
files skipped). Not here: PDF or HTML extraction: convert those to text first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from memorag.errors import EmptyInputError, InputDecodeError
from memorag.types import Document

Input = str | Path | Document


def read_text_file(path: Path, encoding: str = "utf-8") -> str:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise InputDecodeError(f"{path} looks binary (it holds NUL bytes): give memorag plain text files")
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


def _expand(item: Input) -> Iterable[Path | Document | str]:
    if isinstance(item, Path) and item.is_dir():
        files = sorted(p for p in item.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(item).parts))
        if not files:
            raise EmptyInputError(f"{item} holds no files to memorize")
        return files
    return [item]


def to_documents(inputs: Input | Sequence[Input], encoding: str = "utf-8", first_number: int = 0) -> list[Document]:
    """Documents in the given order; raises EmptyInputError / InputDecodeError naming the bad input."""
    items = [inputs] if isinstance(inputs, (str, Path, Document)) else list(inputs)
    if not items:
        raise EmptyInputError("nothing to memorize: give at least one text or file")
    documents: list[Document] = []
    for number, item in enumerate(items):
        for part in _expand(item):
            if isinstance(part, Document):
                document = part
            elif isinstance(part, Path):
                document = Document(source=str(part), text=read_text_file(part, encoding))
            elif isinstance(part, str):
                document = Document(source=f"text-{first_number + number}", text=part)
            else:
                raise TypeError(f"cannot memorize a {type(part).__name__}: give str text, a Path or a Document")
            if not document.text.strip():
                raise EmptyInputError(f"{document.source} is empty (or only white space): nothing to memorize")
            documents.append(document)
    return documents
