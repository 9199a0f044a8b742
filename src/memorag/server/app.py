"""The FastAPI app (`build_app`), its lifespan (the state: opened, warmed, closed) and `serve` (uvicorn).

    memorag serve --stores DIR [--host 127.0.0.1] [--port 8000] [--api-key KEY]

`GET /health` and the web page `GET /` need no key; every /v1 route does when the server has one.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from memorag import __version__
from memorag.errors import ListenError
from memorag.server.ask.api_router import router as ask_router
from memorag.server.envelope import error_response, install_error_handlers
from memorag.server.jobs.api_router import router as jobs_router
from memorag.server.limits import BodyLimit
from memorag.server.openai_api.api_router import router as openai_router
from memorag.server.settings import MAX_REQUEST_BYTES, ServerSettings, check_exposure
from memorag.server.state import ServerState
from memorag.server.stores.api_router import router as stores_router

PAGE = Path(__file__).parent / "static" / "index.html"


def startup_line(settings: ServerSettings, port: int) -> str:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    access = ("bearer API key required on /v1" if settings.api_key else
              "no API key: /v1 is open to every program and user on this machine (loopback only; set --api-key "
              "or MEMORAG_API_KEY to require one)")
    return f"memorag serve: http://{host}:{port} (stores in {settings.stores}); {access}"


def build_app(settings: ServerSettings) -> FastAPI:
    """The routes, the error envelope and the body limits; the state opens in the lifespan, when it starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await run_in_threadpool(ServerState.open, settings)
        await run_in_threadpool(state.warm)  # the models, once, before the first request
        state.start()
        app.state.memorag = state
        for job in state.interrupted:
            print(f"memorag serve: job {job.id} ({job.kind} into {job.store!r}) was interrupted by the last stop: "
                  "marked failed", file=sys.stderr, flush=True)
        try:
            yield
        finally:
            await run_in_threadpool(state.close)

    app = FastAPI(title="memorag", version=__version__, lifespan=lifespan,
                  description="MemoRAG over HTTP: stores, documents, jobs, asks, and an OpenAI-compatible chat API.")
    install_error_handlers(app)

    def limit_for(method: str, path: str) -> int:
        uploads = method == "POST" and path.startswith("/v1/stores/") and path.endswith("/documents")
        return settings.max_upload_bytes if uploads else min(MAX_REQUEST_BYTES, settings.max_upload_bytes)

    app.add_middleware(BodyLimit, limit_for=limit_for)
    for router in (stores_router, jobs_router, ask_router, openai_router):
        app.include_router(router)

    @app.get("/health", tags=["server"])
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get("/", include_in_schema=False, response_model=None)
    def page() -> Any:
        if PAGE.is_file():
            return FileResponse(PAGE, media_type="text/html")
        return error_response("NotFound", "this installation has no web page (memorag/server/static/index.html); "
                              "the API is under /v1 (docs/server.md)", 404)

    return app


def bind(settings: ServerSettings) -> socket.socket:
    """The listening socket, bound here so that port 0 works (the startup line names the port taken)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(settings.host, settings.port,
                                                             type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        raise ListenError(f"cannot listen on {settings.host}:{settings.port} ({exc.strerror or exc}): give another "
                          "--port (0 takes a free one), or a --host address of this machine") from None
    return sock


def serve(settings: ServerSettings, verbose: bool = False) -> None:
    """Run the server until interrupted (Ctrl-C, SIGTERM): refuses an exposed host without a key first."""
    check_exposure(settings)
    sock = bind(settings)
    config = uvicorn.Config(build_app(settings), log_level="info" if verbose else "warning", access_log=verbose,
                            timeout_graceful_shutdown=10)
    ListeningServer(config, startup_line(settings, sock.getsockname()[1])).run(sockets=[sock])


class ListeningServer(uvicorn.Server):
    """Prints the startup line once the socket listens (after the lifespan has loaded the models)."""

    def __init__(self, config: uvicorn.Config, line: str) -> None:
        super().__init__(config)
        self.line = line

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(self.line, flush=True)
