"""Error translation (problem+json), security headers and request logging without personal data."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web

from chat_service.errors import ChatError, InvalidInput, MethodNotAllowed, NotFound, PayloadTooLarge
from chat_service.logging import get_logger
from chat_service.metrics import count_refusal
from chat_service.schemas import MAX_BODY_BYTES, Body, loads, validate
from chat_service.services import SETTINGS

log = get_logger("chat_service.http")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=Body)
SERVER_NAME = "chat-service"
HSTS = "max-age=63072000; includeSubDomains"


def problem(exc: ChatError) -> web.Response:
    response = web.json_response(exc.to_wire(), status=exc.http_status, content_type="application/problem+json")
    retry_after = exc.details.get("retry_after")
    if isinstance(retry_after, int):
        response.headers["Retry-After"] = str(retry_after)
    return response


async def read_json(request: web.Request) -> object:
    """The body as JSON: Content-Type checked, at most `MAX_BODY_BYTES`, depth and characters bounded."""
    if request.content_type != "application/json":
        raise InvalidInput("Send a JSON body (Content-Type: application/json).")
    too_large = PayloadTooLarge(
        f"The request body is larger than {MAX_BODY_BYTES // 1024} KiB.", details={"max_bytes": MAX_BODY_BYTES}
    )
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise too_large
    raw = await request.content.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise too_large
    return loads(raw)


async def parse_body(request: web.Request, model: type[M]) -> M:
    """The JSON body validated as `model` (the same model the OpenAPI document shows)."""
    return validate(model, await read_json(request))


def parse_query(request: web.Request, model: type[M]) -> M:
    return validate(model, dict(request.query))


def _http_problem(request: web.Request, exc: web.HTTPException) -> web.Response | None:
    """aiohttp's own 404/405/413 under /api/ as problem+json instead of text/plain."""
    if not request.path.startswith("/api/") or exc.status < 400:
        return None
    error: ChatError
    if exc.status == 404:
        error = NotFound("No such route or resource.")
    elif exc.status == 405:
        error = MethodNotAllowed()
    elif exc.status == 413:
        error = PayloadTooLarge(details={"max_bytes": MAX_BODY_BYTES})
    else:
        error = ChatError(exc.reason)
        error.http_status = exc.status
        error.code = "invalid_input" if exc.status < 500 else "internal_error"
    response = problem(error)
    if "Allow" in exc.headers:
        response.headers["Allow"] = exc.headers["Allow"]
    return response


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
        count_refusal(request.app, exc)
        return problem(exc)
    except web.HTTPException as exc:
        status = exc.status
        answer = _http_problem(request, exc)
        if answer is None:
            raise
        return answer
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


def _behind_https_proxy(request: web.Request) -> bool:
    if request.secure:
        return True
    settings = request.app[SETTINGS]
    return settings.trust_proxy and request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def _add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
    if _behind_https_proxy(request):
        response.headers.setdefault("Strict-Transport-Security", HSTS)


@web.middleware
async def security_headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost, so that every answer carries the headers: errors, 404s and redirects included."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _add_security_headers(request, exc)
        raise
    _add_security_headers(request, response)
    return response


async def hide_server_banner(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`: name the service without its Python and aiohttp versions."""
    response.headers["Server"] = SERVER_NAME
