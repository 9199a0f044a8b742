"""A documents request read into pending inputs: JSON texts, or multipart files saved under the server's folder.

Files are saved as they arrive (the body limit is BodyLimit's) to `.memorag-server/uploads/UUID/N/NAME`, where
the job reads them (memorag.formats tells text, Markdown, HTML, PDF and DOCX apart by content) and removes them.
A file's source is its name without folders, so `docs list` shows `notes.md`, not a client's or our path.
"""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from memorag.server.stores.protocol import MAX_FILES, MAX_SOURCE, AddTexts
from memorag.server.stores.serving import PendingFile, PendingText

UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")


def upload_name(filename: str | None, number: int) -> str:
    """The file's own name, without folders or control characters; `upload-N` when nothing is left."""
    name = UNSAFE.sub("_", (filename or "").replace("\\", "/").rsplit("/", 1)[-1]).strip()[:MAX_SOURCE]
    return name if name.strip(".") else f"upload-{number}"


def invalid(message: str, where: str = "files") -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", where), "msg": message, "type": "value_error"}])


async def read_texts(request: Request) -> list[PendingText]:
    try:
        body = AddTexts.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None
    return [PendingText(t.source, t.text) for t in body.texts]


async def save_files(request: Request, uploads: Path) -> tuple[list[PendingFile], Path]:
    """The uploaded files (any form field), saved under a new folder of `uploads`; that folder is returned too."""
    form = await request.form(max_files=MAX_FILES, max_fields=MAX_FILES)
    files = [value for _, value in form.multi_items() if isinstance(value, UploadFile)]
    if not files:
        raise invalid("no file in the upload: send multipart/form-data with one or more `files` fields")
    names = [upload_name(f.filename, n) for n, f in enumerate(files)]
    if len(set(names)) != len(names):
        raise invalid("two uploaded files have the same name: rename one (a later one would replace it)")
    folder = uploads / uuid.uuid4().hex
    pending = []
    try:
        for number, (upload, name) in enumerate(zip(files, names, strict=True)):
            path = folder / str(number) / name
            path.parent.mkdir(parents=True)
            with path.open("wb") as out:  # starlette spooled it (memory, then a temporary file)
                await run_in_threadpool(shutil.copyfileobj, upload.file, out)
            pending.append(PendingFile(name, path))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        await form.close()
    return pending, folder
