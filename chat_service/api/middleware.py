"""Error translation (problem+json), security headers and request logging without personal data."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from chat_service.errors import ChatError, InvalidInput
from chat_service.logging import get_logger

log = get_logger("chat_service.http")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_JSON_BYTES = 64 * 1024


def problem(exc: ChatError) -> web.Response:
    response = web.json_response(exc.to_wire(), status=exc.http_status, content_type="application/problem+json")
    retry_after = exc.details.get("retry_after")
    if isinstance(retry_after, int):
        response.headers["Retry-After"] = str(retry_after)
    return response


async def read_json(request: web.Request) -> object:
    if request.content_type != "application/json":
        raise InvalidInput("Send a JSON body (Content-Type: application/json).")
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise InvalidInput("The request body is too large.")
    raw = await request.content.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise InvalidInput("The request body is too large.")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("The body is not valid JSON.") from None


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except ChatError as exc:
        status = exc.http_status
        log.info("http_rejected", method=request.method, path=request.path, code=exc.code)
        return problem(exc)
    except web.HTTPException as exc:
        status = exc.status
        raise
    except Exception:
        log.exception("http_failed", method=request.method, path=request.path)
        return problem(ChatError())
    finally:
        if not request.path.startswith("/socket.io/"):
            log.info(
                "http_request",
                method=request.method,
                path=request.path,
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 2),
            )


@web.middleware
async def security_headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response
