"""POST /v1/stores/{name}/ask (JSON, or Server-Sent Events with "stream": true), /recall and /summarize."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from memorag.server.ask import serving
from memorag.server.ask.protocol import (
    AskRequest,
    AskResponse,
    RecallRequest,
    RecallResponse,
    SummarizeRequest,
)
from memorag.server.auth import require_key
from memorag.server.state import State

router = APIRouter(prefix="/v1", dependencies=[Depends(require_key)], tags=["ask"])
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.post("/stores/{name}/ask", response_model=AskResponse,
             responses={200: {"content": {"text/event-stream": {}}}})
async def ask(name: str, body: AskRequest, state: State) -> Any:
    if not body.stream:
        return await serving.ask(state, name, body)
    rag = await run_in_threadpool(state.stores.reader, name)  # 404/409 as a status, before the stream starts
    return StreamingResponse(serving.ask_stream(state, rag, body), media_type="text/event-stream",
                             headers=SSE_HEADERS)


@router.post("/stores/{name}/recall", response_model=RecallResponse)
async def recall(name: str, body: RecallRequest, state: State) -> Any:
    return await serving.recall(state, name, body)


@router.post("/stores/{name}/summarize", response_model=AskResponse)
async def summarize(name: str, body: SummarizeRequest, state: State) -> Any:
    return await serving.summarize(state, name, body)
