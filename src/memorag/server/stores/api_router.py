"""Stores and their documents: /v1/stores, /v1/stores/{name}, /v1/stores/{name}/documents[/{source}]."""

from __future__ import annotations

import shutil
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from memorag.server.auth import require_key
from memorag.server.jobs.protocol import JobCreated
from memorag.server.state import State
from memorag.server.stores import intake
from memorag.server.stores.protocol import CreateStore, DocumentList, StoreDeleted, StoreList, StoreSummary
from memorag.server.stores.serving import (
    PendingFile,
    PendingText,
    check_deletable,
    delete_work,
    memorize_work,
)

router = APIRouter(prefix="/v1", dependencies=[Depends(require_key)], tags=["stores"])


@router.get("/stores", response_model=StoreList)
def list_stores(state: State) -> dict:
    return {"stores": state.stores.summaries()}


@router.post("/stores", response_model=StoreSummary, status_code=201)
def create_store(body: CreateStore, state: State) -> dict:
    return state.stores.create(body.name)


@router.delete("/stores/{name}", response_model=StoreDeleted)
def delete_store(name: str, state: State) -> dict:
    state.stores.delete(name, state.jobs)
    return {"deleted": name}


@router.get("/stores/{name}/documents", response_model=DocumentList)
def list_documents(name: str, state: State) -> dict:
    return {"store": name, "documents": state.stores.documents(name)}


@router.post("/stores/{name}/documents", response_model=JobCreated, status_code=202,
             openapi_extra={"requestBody": {"content": {
                 "application/json": {"schema": {"$ref": "#/components/schemas/AddTexts"}},
                 "multipart/form-data": {"schema": {"type": "object", "properties": {
                     "files": {"type": "array", "items": {"type": "string", "format": "binary"}}}}}}}})
async def add_documents(name: str, request: Request, state: State) -> dict:
    """Memorize texts (JSON `{"texts": [{"source", "text"}]}`) or files (multipart, field `files`) in a job."""
    state.settings.store_path(name)  # 400 for a bad name before the body is read
    items: list[PendingText] | list[PendingFile]
    folder: Path | None = None
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        items, folder = await intake.save_files(request, state.uploads_dir)
    else:
        items = await intake.read_texts(request)
    try:
        job = await run_in_threadpool(state.submit, name, "memorize",
                                      lambda: memorize_work(state.stores, state.slot, name, items, folder))
    except BaseException:
        if folder is not None:
            await run_in_threadpool(shutil.rmtree, folder, True)
        raise
    return {"job_id": job.id}


@router.delete("/stores/{name}/documents/{source:path}", response_model=JobCreated, status_code=202)
def delete_document(name: str, source: str, state: State) -> dict:
    """Forget one document (its source as listed, URL-encoded) in a job: memory segment, chunks, vectors."""
    check_deletable(state.stores, name, source)
    job = state.submit(name, "delete", lambda: delete_work(state.stores, state.slot, name, source))
    return {"job_id": job.id}
