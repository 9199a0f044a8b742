"""Request body limits, as plain ASGI middleware: 413 in the error envelope before a large body is stored.

A declared Content-Length over the limit is refused before the body is read (a client that sent `Expect:
100-continue`, as curl does for large uploads, never sends it); a chunked body is counted as it arrives and
refused once it passes the limit. Either way up to DRAIN_BYTES of the rest is read and dropped first, so the
client gets the response instead of a reset connection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import JSONResponse

from memorag.errors import PayloadTooLargeError
from memorag.server.envelope import envelope

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
DRAIN_BYTES = 64 << 20


def too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"the request body is larger than this server accepts ({limit / (1 << 20):.2f} MiB): split the upload "
        "into several requests, or start the server with a larger --max-upload-mb")


async def drain(receive: Receive, budget: int) -> None:
    """Read and drop the rest of the body, up to `budget` bytes."""
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request":
            return
        budget -= len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class BodyLimit:
    """Refuse bodies over `limit_for(method, path)` bytes with 413 (sent from here, whatever the route does)."""

    def __init__(self, app: Any, limit_for: Callable[[str, str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > limit:
            if headers.get(b"expect", b"").lower() != b"100-continue":
                await drain(receive, DRAIN_BYTES)
            await refusal(limit)(scope, receive, send)
            return
        received, refused = 0, False

        async def counted() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if message.get("more_body", False):
                        await drain(receive, DRAIN_BYTES)
                    await refusal(limit)(scope, receive, send)
                    refused = True
                    raise too_large(limit)  # stops the route; what it answers is dropped below
            return message

        async def unless_refused(message: Message) -> None:
            if not refused:
                await send(message)

        try:
            await self.app(scope, counted, unless_refused)
        except Exception:
            if not refused:
                raise


def refusal(limit: int) -> JSONResponse:
    error = too_large(limit)
    return JSONResponse(envelope(type(error).__name__, str(error), 413), status_code=413)
