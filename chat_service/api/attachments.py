"""Files in conversations over HTTP: attach an image or a PDF file, and download it again.

The visitor authenticates with their conversation token (`Authorization: Bearer <token>`, the
widget's resume token; never in a URL) from an origin of the conversation's site, which is let in
by CORS; agents with their session cookie, from the console's origin, and the CSRF header to
upload. A download is sent as an attachment under a sandboxing CSP and is never kept by shared
caches; an agent's download is written to the audit log before the file leaves the server.
"""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote

from aiohttp import BodyPartReader, web

from chat_service.api.auth import require_user
from chat_service.api.contract import ApiRoutes
from chat_service.api.middleware import Handler, problem
from chat_service.attachments.content import EXTENSIONS, KINDS
from chat_service.conversations import MessageView, agent_message, summary_to_wire
from chat_service.errors import (
    ChatError,
    ForbiddenOrigin,
    InvalidInput,
    InvalidToken,
    NotFound,
    PayloadTooLarge,
    Unauthenticated,
)
from chat_service.limits import ADDRESS_LIMITS
from chat_service.logging import get_logger
from chat_service.models import Conversation, User
from chat_service.schemas import validate
from chat_service.schemas.attachments import AttachmentForm
from chat_service.services import SERVICES, SETTINGS, Services
from chat_service.sites import SITES, own_origins
from chat_service.sockets.base import client_ip
from chat_service.sockets.fanout import emit_to_agents
from chat_service.sockets.visitor import NAMESPACE as VISITOR_NAMESPACE
from chat_service.sockets.visitor import conversation_room, visitor_message

log = get_logger("chat_service.http")
routes = ApiRoutes()
UPLOAD = "/api/conversations/{conversation_id:c[0-9a-f]{24}}/attachments"
DOWNLOAD = "/api/attachments/{file_id:f[0-9a-f]{24}}"
_CORS_PATHS = re.compile(r"/api/(conversations/c[0-9a-f]{24}/attachments|attachments/f[0-9a-f]{24})")
# Room for the multipart boundaries, part headers and the client id around the file itself.
FORM_OVERHEAD = 16 * 1024
FIELD_BYTES = 256
READ_BYTES = 64 * 1024
# Should a browser ever render a file (it is sent as an attachment), it runs nothing and loads nothing.
DOWNLOAD_CSP = "default-src 'none'; sandbox"


@dataclass(frozen=True)
class Caller:
    """An agent (signed in) or, with `agent` None, the visitor whose token opened `conversation`."""

    agent: User | None
    conversation: Conversation | None = None


async def agent_may_see(services: Services, agent: User, conversation: Conversation) -> bool:
    """Whether this agent may see this conversation's files: the same rule as for the conversation
    itself (its site must be one of the agent's teams'; chat_service/teams.py)."""
    return not agent.disabled and (await services.teams.scope(agent)).allows(conversation.site_id)


def _widget_origin(request: web.Request) -> str | None:
    """The request's Origin if a widget may call from it (a site's origin or CHAT_ALLOWED_ORIGINS)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return None
    allowed = request.app[SETTINGS].allowed_origins
    sites = request.app.get(SITES)
    if "*" in allowed or origin in allowed or (sites is not None and origin in sites.origins()):
        return origin
    return None


def _check_site_origin(request: web.Request, conversation: Conversation) -> None:
    """A visitor's request comes from the conversation's site (or from no browser page at all)."""
    origin = request.headers.get("Origin")
    own = own_origins(request, request.app[SETTINGS].public_url)
    sites = request.app.get(SITES)
    site = sites.get(conversation.site_id) if sites is not None else None
    if site is not None:
        allowed = site.allows_origin(origin, own)
    else:
        allowed = origin in own or _widget_origin(request) is not None
    if origin is not None and not allowed:
        raise ForbiddenOrigin("This site may not reach this conversation.")


def with_cors(handler: Handler) -> Handler:
    """Let a widget's origin read the answer, errors included (else its fetch fails without a reason)."""

    @functools.wraps(handler)
    async def answer(request: web.Request) -> web.StreamResponse:
        origin = _widget_origin(request)
        try:
            response = await handler(request)
        except ChatError as exc:
            if origin is None:
                raise
            log.info("http_rejected", method=request.method, path=request.path, code=exc.code)
            response = problem(exc)
        if origin is not None:
            response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
        return response

    return answer


@web.middleware
async def preflight_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """CORS preflights of the attachment routes (the widget sends its token in a header)."""
    if (
        request.method != "OPTIONS"
        or "Access-Control-Request-Method" not in request.headers
        or not _CORS_PATHS.fullmatch(request.path)
    ):
        return await handler(request)
    origin = _widget_origin(request)
    headers = {"Vary": "Origin"}
    if origin is not None:
        headers.update(
            {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": "GET, POST",
                "Access-Control-Allow-Headers": "Authorization",
                "Access-Control-Max-Age": "600",
            }
        )
    return web.Response(status=204, headers=headers)


async def _caller(request: web.Request) -> Caller:
    authorization = request.headers.get("Authorization")
    if authorization is None:
        return Caller((await require_user(request)).user)
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Send the conversation token as 'Authorization: Bearer <token>'.")
    conversation = await request.app[SERVICES].conversations.by_token(token.strip())
    _check_site_origin(request, conversation)
    return Caller(None, conversation)


async def _read_part(part: BodyPartReader, limit: int, too_large: ChatError) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(READ_BYTES):
        data += chunk
        if len(data) > limit:
            raise too_large
    return bytes(data)


async def read_upload(request: web.Request, max_bytes: int) -> tuple[AttachmentForm, str | None, bytes]:
    """The form's fields, the file's name as the client gave it, and its bytes: streamed, never more
    than `max_bytes` of file read."""
    too_large = PayloadTooLarge(
        f"The file is larger than {max_bytes / (1024 * 1024):g} MiB.", details={"max_bytes": max_bytes}
    )
    if request.content_type != "multipart/form-data":
        raise InvalidInput("Send the file as multipart/form-data, in a field named 'file'.")
    if request.content_length is not None and request.content_length > max_bytes + FORM_OVERHEAD:
        raise too_large
    fields: dict[str, str] = {}
    name: str | None = None
    data: bytes | None = None
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise InvalidInput("Nested multipart bodies are not accepted.")
            if part.name == "file" and data is None:
                # Browsers escape '"', CR and LF as %22, %0D, %0A (HTML's form encoding); some clients all.
                name = unquote(part.filename) if part.filename else None
                data = await _read_part(part, max_bytes, too_large)
            elif part.name in AttachmentForm.model_fields and part.name not in fields:
                field_too_long = InvalidInput(f"'{part.name}' is too long.", details={"field": part.name})
                fields[part.name] = (await _read_part(part, FIELD_BYTES, field_too_long)).decode()
            else:
                raise InvalidInput("Unknown or repeated form field.", details={"field": str(part.name)[:64]})
    except (ValueError, LookupError, AssertionError) as exc:  # includes UnicodeDecodeError
        raise InvalidInput("The multipart body is malformed.") from exc
    if data is None:
        raise InvalidInput("Send the file in a form field named 'file'.", details={"field": "file"})
    return validate(AttachmentForm, fields), name, data


@routes.api(
    "POST",
    UPLOAD,
    "Attach an image (JPEG, PNG, WebP, GIF) or a PDF file: the conversation's visitor (token) or an agent",
    access="visitor_or_user",
    form=AttachmentForm,
    statuses=(409, 413, 415, 429, 503),
    ok_status=201,
    ok="The stored message that carries the file ({conversation_id, message})",
)
@with_cors
async def upload(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    conversation_id = request.match_info["conversation_id"]
    caller = await _caller(request)
    if caller.agent is not None:
        conversation = await services.conversations.get(conversation_id)
        if not await agent_may_see(services, caller.agent, conversation):
            raise NotFound("No such conversation.")
    elif caller.conversation is None or caller.conversation.id != conversation_id:
        raise InvalidToken()
    else:
        conversation = caller.conversation
        limits = request.app[ADDRESS_LIMITS]
        await limits.upload(limits.key(client_ip(request, services.settings.trust_proxy)))
    form, name, data = await read_upload(request, services.attachments.max_bytes)

    async def announce(view: MessageView) -> None:
        await emit_to_agents(services.sio, "message", {"message": agent_message(view)}, conversation.site_id)
        await services.sio.emit(
            "message",
            {"message": visitor_message(view)},
            room=conversation_room(conversation_id),
            namespace=VISITOR_NAMESPACE,
        )

    view, _, reopened = await services.attachments.attach(
        conversation,
        form.client_id or secrets.token_urlsafe(16),
        name,
        data,
        agent=caller.agent,
        announce=announce,
    )
    if reopened is not None:
        await emit_to_agents(
            services.sio, "conversation_updated", {"conversation": summary_to_wire(reopened)}, reopened.site_id
        )
    message = visitor_message(view) if caller.agent is None else agent_message(view)
    return web.json_response({"conversation_id": conversation_id, "message": message}, status=201)


@routes.api(
    "GET",
    DOWNLOAD,
    "An attached file, as an attachment: the conversation's visitor (token) or an agent (audited)",
    access="visitor_or_user",
    ok="The file (Content-Disposition: attachment; sandboxing CSP; Cache-Control: private, no-store)",
    ok_type="application/octet-stream",
)
@with_cors
async def download(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    caller = await _caller(request)
    file = await services.attachments.find(request.match_info["file_id"])
    if caller.agent is not None:
        if not await agent_may_see(services, caller.agent, await services.conversations.get(file.conversation_id)):
            raise NotFound("No such file.")
        # Accounted for before the file leaves the server.
        await services.audit.record(
            caller.agent.id,
            "attachment.downloaded",
            target_type="conversation",
            target_id=file.conversation_id,
            details={"file": file.id},
        )
    elif caller.conversation is None or caller.conversation.id != file.conversation_id:
        raise NotFound("No such file.")
    data = await services.attachments.read(file)
    kind = file.type if file.type in KINDS else "application/octet-stream"
    return web.Response(
        body=data,
        content_type=kind,
        headers={
            # The file's own name is personal data kept encrypted on its message: clients know it.
            "Content-Disposition": f'attachment; filename="{file.id}{EXTENSIONS.get(kind, "")}"',
            "Content-Security-Policy": DOWNLOAD_CSP,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )
