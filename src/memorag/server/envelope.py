"""One error envelope for every failure: `{"error": {"type", "message", "status"}}`.

A MemoRAGError keeps its class name and its message (which says what to do) and gets the HTTP status of the first
class in its MRO that STATUS names; request validation is 422 (with `details`), routing errors keep their status,
and anything unexpected is 500 with a generic message: the traceback goes to the server's log, never to the
client.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from memorag import errors

STATUS: dict[type[errors.MemoRAGError], int] = {
    errors.InvalidStoreNameError: 400,
    errors.EmptyInputError: 400,
    errors.InputDecodeError: 400,
    errors.UnauthorizedError: 401,
    errors.StoreNotFoundError: 404,
    errors.DocumentNotFoundError: 404,
    errors.JobNotFoundError: 404,
    errors.NotMemorizedError: 409,
    errors.NotOursError: 409,
    errors.StoreExistsError: 409,
    errors.StoreChangedError: 409,
    errors.StoreBusyError: 409,
    errors.StoreMismatchError: 409,
    errors.EmptyStoreError: 409,
    errors.PayloadTooLargeError: 413,
    errors.MemoryBudgetError: 422,
    errors.TooManyJobsError: 429,
    errors.LockTimeoutError: 503,
    errors.AskTimeoutError: 504,
}
HTTP_TYPES = {400: "BadRequest", 401: "Unauthorized", 404: "NotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge"}


def status_of(exc: errors.MemoRAGError) -> int:
    """The HTTP status of a MemoRAGError: its nearest class STATUS names, else 500 (a failure on our side:
    a damaged store, a model that does not load, a generator that fails)."""
    return next((STATUS[kind] for kind in type(exc).__mro__ if kind in STATUS), 500)


def envelope(kind: str, message: str, status: int, **extra: Any) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message, "status": status, **extra}}


def error_response(kind: str, message: str, status: int, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(envelope(kind, message, status, **extra), status_code=status, headers=headers)


def memorag_error_envelope(exc: errors.MemoRAGError) -> dict[str, Any]:
    """The envelope of a MemoRAGError, for places that write it themselves (an SSE error event, a job)."""
    return envelope(type(exc).__name__, str(exc), status_of(exc))


def validation_details(errors_: Any) -> list[dict[str, Any]]:
    return [{"loc": [str(part) for part in e.get("loc", ())], "msg": str(e.get("msg", "")),
             "type": str(e.get("type", ""))} for e in errors_]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(errors.MemoRAGError)
    async def memorag_error(request: Request, exc: errors.MemoRAGError) -> JSONResponse:
        return error_response(type(exc).__name__, str(exc), status_of(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = validation_details(exc.errors())
        where = "; ".join(f"{'.'.join(d['loc'][1:] or d['loc'])}: {d['msg']}" for d in details[:5])
        return error_response("ValidationError", f"the request does not match the API ({where}); see "
                              "docs/server.md or /docs for the fields each endpoint takes", 422, details=details)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "HTTP error"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no endpoint {request.url.path}: docs/server.md lists them"
        return error_response(HTTP_TYPES.get(exc.status_code, "HTTPError"), message, exc.status_code)

    @app.exception_handler(ValueError)
    async def bad_value(request: Request, exc: ValueError) -> JSONResponse:  # memorag's checks of arguments
        return error_response("InvalidRequestError", str(exc), 400)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette raises it again after this response, so uvicorn logs the traceback on the server's side
        return error_response("InternalError", f"the server failed unexpectedly ({type(exc).__name__}); its log "
                              "has the details", 500)
