"""Chat completions over a store: the last user message is the question, asked in memorag mode by default.

Earlier messages are not read (memorag answers one question from the store; a chat UI's history does not change
the evidence). A streamed completion sends OpenAI's chunks (`data: {chat.completion.chunk}`, the role first, then
each piece as the generator writes it, then a chunk with finish_reason "stop") and `data: [DONE]`. The pieces
are the raw generated text: a citation marker to a passage that was not given, which the non-streamed answer
drops, has already been sent; the last chunk's `memorag` field carries the checked citations.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from memorag.server.ask.protocol import AskRequest, answer_out
from memorag.server.ask.serving import answer_events, ask, error_data
from memorag.server.openai_api.protocol import ChatCompletionRequest
from memorag.server.state import ServerState


def question_of(request: ChatCompletionRequest) -> str:
    """The text of the last user message (text parts joined); 422 when there is none."""
    for message in reversed(request.messages):
        if message.role != "user":
            continue
        content = message.content
        if isinstance(content, list):
            content = "\n".join(str(p.get("text", "")) for p in content if p.get("type") == "text")
        if content and content.strip():
            return content
    raise RequestValidationError([{"loc": ("body", "messages"), "type": "value_error",
                                   "msg": "no user message with text: the last user message is the question"}])


def as_ask(request: ChatCompletionRequest) -> AskRequest:
    budget = request.max_completion_tokens or request.max_tokens
    try:
        return AskRequest(question=question_of(request), mode=request.mode, top_k=request.top_k,
                          recall=request.recall, max_new_tokens=budget)
    except ValidationError as exc:  # a question over AskRequest's length
        raise RequestValidationError(exc.errors(include_url=False)) from None


def sources(answer: dict[str, Any]) -> dict[str, Any]:
    """The `memorag` extension field: what the answer cites and which passages it read."""
    evidence = [{k: row[k] for k in ("number", "source", "page", "start", "end")} for row in answer["evidence"]]
    return {"citations": answer["citations"], "evidence": evidence, "mode": answer["mode"]}


def models(state: ServerState) -> dict[str, Any]:
    """One model per store that holds documents: its id is the store's name."""
    cards = []
    for summary in state.stores.summaries():
        if summary["status"] == "ready":
            manifest = Path(state.settings.stores) / summary["name"] / "manifest.json"
            cards.append({"id": summary["name"], "object": "model", "created": int(manifest.stat().st_mtime),
                          "owned_by": "memorag"})
    return {"object": "list", "data": cards}


async def complete(state: ServerState, request: ChatCompletionRequest) -> dict[str, Any]:
    answer = await ask(state, request.model, as_ask(request))
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": request.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer["answer"]},
                         "finish_reason": "stop", "logprobs": None}],
            "memorag": sources(answer)}


async def complete_stream(state: ServerState, request: ChatCompletionRequest) -> AsyncIterator[str]:
    """A prepared stream: the store is opened (404 as a status) before the first chunk is sent."""
    rag = await run_in_threadpool(state.stores.reader, request.model)
    ask_request = as_ask(request)
    ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        data = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": request.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    async def events() -> AsyncIterator[str]:
        yield chunk({"role": "assistant", "content": ""})
        try:
            options = {"question": ask_request.question, "mode": ask_request.mode, "top_k": ask_request.top_k,
                       "recall": ask_request.recall, "max_new_tokens": ask_request.max_new_tokens}
            async for kind, value in answer_events(state, rag, options):
                if kind == "token":
                    yield chunk({"content": value})
                elif kind == "done":
                    yield chunk({}, "stop", memorag=sources(answer_out(value, rag.documents)))
        except Exception as exc:  # noqa: BLE001 (the envelope, as OpenAI's streams send errors)
            yield f"data: {json.dumps(error_data(exc), ensure_ascii=False)}\n\n"
        yield "data: [DONE]\n\n"

    return events()
