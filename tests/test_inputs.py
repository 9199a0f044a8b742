"""Bad input gets a specific error naming the file and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from memorag.errors import EmptyInputError, InputDecodeError
from memorag.inputs import read_text_file, to_documents
from memorag.types import Document


def test_texts_files_and_folders_become_documents_in_order(tmp_path: Path):
    (tmp_path / "b.txt").write_text("second file", encoding="utf-8")
    (tmp_path / "a.txt").write_text("first file", encoding="utf-8")
    (tmp_path / ".hidden").write_text("skipped", encoding="utf-8")
    documents = to_documents(["plain text", tmp_path, Document("given", "as is")], first_number=4)
    assert [d.source for d in documents] == ["text-4", str(tmp_path / "a.txt"), str(tmp_path / "b.txt"), "given"]
    assert documents[1].text == "first file"


def test_utf8_bom_and_other_encodings(tmp_path: Path):
    bom = tmp_path / "bom.txt"
    bom.write_bytes("\ufeffHallo Wörld".encode())
    assert read_text_file(bom) == "Hallo Wörld"
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Größe".encode("latin-1"))
    with pytest.raises(InputDecodeError, match="latin-1"):
        read_text_file(latin)
    assert read_text_file(latin, encoding="latin-1") == "Größe"


@pytest.mark.parametrize(
    ("content", "error", "message"),
    [
        (b"", EmptyInputError, "empty"),
        (b"  \n\t ", EmptyInputError, "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", InputDecodeError, "binary"),
        (b"caf\xe9 au lait", InputDecodeError, "not valid utf-8"),
    ],
)
def test_bad_files_are_refused(tmp_path: Path, content: bytes, error: type, message: str):
    path = tmp_path / "input.txt"
    path.write_bytes(content)
    with pytest.raises(error, match=message):
        to_documents([path])


def test_empty_inputs_are_refused(tmp_path: Path):
    with pytest.raises(EmptyInputError):
        to_documents([])
    with pytest.raises(EmptyInputError):
        to_documents("   ")
    with pytest.raises(EmptyInputError, match="no files"):
        to_documents(tmp_path)
    with pytest.raises(FileNotFoundError):
        read_text_file(tmp_path / "missing.txt")
