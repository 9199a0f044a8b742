"""OpenAI-compatible routes: GET /v1/models, POST /v1/chat/completions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from memorag.server.auth import require_key
from memorag.server.openai_api import serving
from memorag.server.openai_api.protocol import ChatCompletion, ChatCompletionRequest, ModelList
from memorag.server.state import State

router = APIRouter(prefix="/v1", dependencies=[Depends(require_key)], tags=["openai"])


@router.get("/models", response_model=ModelList)
def list_models(state: State) -> dict:
    return serving.models(state)


@router.post("/chat/completions", response_model=ChatCompletion,
             responses={200: {"content": {"text/event-stream": {}}}})
async def chat_completions(body: ChatCompletionRequest, state: State) -> Any:
    if not body.stream:
        return await serving.complete(state, body)
    events = await serving.complete_stream(state, body)
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
