"""Asks, recalls and summaries of one store, in the model slot, within the server's ask timeout.

A streamed answer runs MemoRAG.ask with its streaming hooks: `on_evidence` and `on_text` hand each event from the
slot's thread to the event loop (call_soon_threadsafe), and raise Cancelled once the client has gone or the
deadline has passed, which stops the generator at its next token and frees the slot.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from typing import Any

from fastapi.concurrency import run_in_threadpool

from memorag.errors import MemoRAGError
from memorag.server.ask.protocol import AskRequest, RecallRequest, SummarizeRequest, answer_out, evidence_out
from memorag.server.envelope import envelope, memorag_error_envelope
from memorag.server.slot import Cancelled, stop_when, timed_out
from memorag.server.state import ServerState

log = logging.getLogger("memorag.server")


def ask_options(request: AskRequest) -> dict[str, Any]:
    """MemoRAG.ask's keyword arguments."""
    return {"question": request.question, "mode": request.mode, "top_k": request.top_k, "recall": request.recall,
            "retriever": request.retriever, "answer": request.answer, "max_new_tokens": request.max_new_tokens}


async def ask(state: ServerState, name: str, request: AskRequest) -> dict[str, Any]:
    rag = await run_in_threadpool(state.stores.reader, name)

    def work(cancel: threading.Event) -> dict[str, Any]:
        check = stop_when(cancel)
        return answer_out(rag.ask(**ask_options(request), on_evidence=check, on_text=check), rag.documents)

    return await state.slot.call(work, state.settings.ask_timeout)


async def answer_events(state: ServerState, rag: Any, options: dict[str, Any]) -> AsyncIterator[tuple[str, Any]]:
    """("evidence", passages), then ("token", text) as the generator writes, then ("done", Answer); raises what
    the ask raised, or AskTimeoutError past the server's ask timeout."""
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    cancel = threading.Event()
    timeout = state.settings.ask_timeout
    deadline = time.monotonic() + timeout

    def emit(kind: str) -> Callable[[Any], None]:
        def put(value: Any) -> None:
            if cancel.is_set():
                raise Cancelled
            loop.call_soon_threadsafe(events.put_nowait, (kind, value))

        return put

    def work(_: threading.Event) -> Any:
        return rag.ask(**options, on_evidence=emit("evidence"), on_text=emit("token"))

    future = asyncio.wrap_future(state.slot.submit(work, cancel, deadline, timeout))
    future.add_done_callback(lambda f: f.cancelled() or f.exception())  # read, even when nobody waits any more
    try:
        while True:
            getter = asyncio.ensure_future(events.get())
            done, _ = await asyncio.wait({getter, future}, timeout=max(0.0, deadline - time.monotonic()),
                                         return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                yield getter.result()
                continue
            getter.cancel()
            if future not in done:
                raise timed_out(timeout)
            while not events.empty():  # put before the work returned
                yield events.get_nowait()
            yield "done", future.result()
            return
    finally:
        cancel.set()  # the client left, the deadline passed, or it is over: stop at the next token


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def error_data(exc: Exception) -> dict[str, Any]:
    """The error envelope of a failure after the response started (an SSE stream cannot change its status)."""
    if isinstance(exc, MemoRAGError):
        return memorag_error_envelope(exc)
    if isinstance(exc, ValueError):
        return envelope("InvalidRequestError", str(exc), 400)
    log.error("unexpected error in a streamed answer", exc_info=exc)
    return envelope("InternalError", f"the server failed unexpectedly ({type(exc).__name__}); its log has the "
                    "details", 500)


async def ask_stream(state: ServerState, rag: Any, request: AskRequest) -> AsyncIterator[str]:
    """Server-Sent Events: `evidence` (the passages, numbered as the generator cites them), `token`s, `done`
    (the whole AskResponse), or one `error` event (the error envelope) instead of what is left."""
    try:
        async for kind, value in answer_events(state, rag, ask_options(request)):
            if kind == "evidence":
                yield sse("evidence", {"evidence": evidence_out(value, rag.documents)})
            elif kind == "token":
                yield sse("token", {"text": value})
            else:
                yield sse("done", answer_out(value, rag.documents))
    except Exception as exc:  # noqa: BLE001 (every failure ends the stream with its envelope)
        yield sse("error", error_data(exc))


async def recall(state: ServerState, name: str, request: RecallRequest) -> dict[str, Any]:
    rag = await run_in_threadpool(state.stores.reader, name)

    def work(cancel: threading.Event) -> dict[str, Any]:
        clues = rag.recall(request.question, request.recall, request.kinds)
        return {"question": request.question, "recall": request.recall, "clues": [asdict(c) for c in clues]}

    return await state.slot.call(work, state.settings.ask_timeout)


async def summarize(state: ServerState, name: str, request: SummarizeRequest) -> dict[str, Any]:
    rag = await run_in_threadpool(state.stores.reader, name)

    def work(cancel: threading.Event) -> dict[str, Any]:
        summary = rag.summarize(request.points, request.top_k, request.max_new_tokens)
        return answer_out(summary, rag.documents)

    return await state.slot.call(work, state.settings.ask_timeout)
