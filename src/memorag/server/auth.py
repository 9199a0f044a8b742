"""Bearer authentication of /v1: `Authorization: Bearer KEY`, compared in constant time (hmac.compare_digest).

Without a key (only allowed on loopback, settings.check_exposure) every request passes; /health and the web page
at / never need one (the page asks its user for the key and sends it with each call).
"""

from __future__ import annotations

import hmac

from fastapi import Request

from memorag.errors import UnauthorizedError


def require_key(request: Request) -> None:
    key = request.app.state.memorag.settings.api_key
    if not key:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), key.encode()):
        raise UnauthorizedError("this server needs its API key: send `Authorization: Bearer KEY` (the key the "
                                "server was started with, --api-key or MEMORAG_API_KEY)")
