"""`/agent`: support staff. Only a valid session cookie from the service's own origin may connect,
and every event re-checks that the session is still valid."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any

import socketio
from aiohttp import web

from chat_service.conversations import MessageView, agent_message, summary_to_wire
from chat_service.errors import ChatError, Conflict, ForbiddenOrigin, InvalidInput, NotFound, Unauthenticated
from chat_service.models import Conversation, User
from chat_service.services import SERVICES, SETTINGS, Services
from chat_service.sites import own_origins
from chat_service.sockets.base import BaseNamespace, log
from chat_service.sockets.visitor import NAMESPACE as VISITOR_NAMESPACE
from chat_service.sockets.visitor import conversation_room, visitor_message
from chat_service.validation import (
    parse_agent_reply,
    parse_claim,
    parse_conversation_ref,
    parse_list,
    parse_read,
    parse_typing,
)

NAMESPACE = "/agent"
SESSION_COOKIE = "chat_session"
AGENTS_ROOM = "agents"
# An event trusts this node's memory of its session for this long, then asks the database again.
# Logout, password change and admin action do not wait for it: they close the sockets at once.
RECHECK_AFTER_S = 10.0
# How often this node looks for sessions that ended without anyone acting (idle or absolute expiry).
SWEEP_EVERY_S = 10.0


def staff_origin_allowed(request: web.Request | None, origin: str | None) -> bool:
    """The console's origins: the service's own and CHAT_ALLOWED_ORIGINS, never a widget site's."""
    if origin is None or request is None:
        return True
    settings = request.app[SETTINGS]
    if "*" in settings.allowed_origins or origin in settings.allowed_origins:
        return True
    return origin in own_origins(request, settings.public_url)


async def close_agent_sockets(sio: socketio.AsyncServer, sids: list[str]) -> None:
    """Disconnect these `/agent` sockets wherever they are (python-socketio forwards remote ones)."""
    for sid in sids:
        await sio.disconnect(sid, namespace=NAMESPACE)


@dataclass
class _Checked:
    user: User
    at: float  # time.monotonic() of the last check against the database


def session_cookie(environ: dict[str, Any]) -> str | None:
    raw = environ.get("HTTP_COOKIE")
    if not isinstance(raw, str):
        return None
    try:
        cookie = SimpleCookie(raw)
    except CookieError:
        return None
    morsel = cookie.get(SESSION_COOKIE)
    return morsel.value if morsel else None


class AgentNamespace(BaseNamespace):
    def __init__(self, namespace: str, app: web.Application):
        super().__init__(namespace, app)
        # This node's sockets only: sid -> session hash, session hash -> last check.
        self._socket_sessions: dict[str, str] = {}
        self._checked: dict[str, _Checked] = {}

    @property
    def services(self) -> Services:
        return self.app[SERVICES]

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        try:
            if not staff_origin_allowed(environ.get("aiohttp.request"), environ.get("HTTP_ORIGIN")):
                raise ForbiddenOrigin("The console may only be opened from the service's own address.")
            authenticated = await self.services.accounts.authenticate(session_cookie(environ))
            # Recorded on the session, so ending it closes this socket on whichever node holds it.
            if not await self.services.db.sessions.add_socket(authenticated.session_hash, sid):
                raise Unauthenticated()
        except ChatError as exc:
            log.info("agent_connect_refused", code=exc.code)
            raise
        user = authenticated.user
        self._socket_sessions[sid] = authenticated.session_hash
        self._checked[authenticated.session_hash] = _Checked(user, time.monotonic())
        await self.save_session(sid, {"user_id": user.id, "session_hash": authenticated.session_hash})
        await self.enter_room(sid, AGENTS_ROOM)
        await self.enter_room(sid, f"user:{user.id}")
        await self.services.presence.connected(sid, user.id)
        await self.emit("presence", {"user_id": user.id, "online": True}, room=AGENTS_ROOM)
        log.info("agent_connected", user_id=user.id)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        session = await self.get_session(sid)
        user_id = session.get("user_id")
        if user_id is None:
            return
        session_hash = self._socket_sessions.pop(sid, None)
        if session_hash is not None:
            if session_hash not in self._socket_sessions.values():
                self._checked.pop(session_hash, None)
            with contextlib.suppress(ChatError):
                await self.services.db.sessions.remove_socket(session_hash, sid)
        if not await self.services.presence.disconnected(sid, user_id):
            await self.emit("presence", {"user_id": user_id, "online": False}, room=AGENTS_ROOM)

    async def _user(self, sid: str) -> User:
        """The socket's user if its session is still valid; else the socket is closed."""
        session_hash = self._socket_sessions.get(sid)
        if session_hash is None:
            raise Unauthenticated()
        checked = self._checked.get(session_hash)
        if checked is not None and time.monotonic() - checked.at < RECHECK_AFTER_S:
            return checked.user
        try:
            # Touches the session: working in the console counts as activity.
            who = await self.services.accounts.authenticate_hash(session_hash)
        except Unauthenticated:
            await self.disconnect(sid)
            raise Unauthenticated("Your session has ended; sign in again.") from None
        except ChatError:
            await self.disconnect(sid)
            raise
        self._checked[session_hash] = _Checked(who.user, time.monotonic())
        return who.user

    async def sweep(self) -> None:
        """Close this node's sockets whose session ended by time (idle or absolute expiry)."""
        hashes = set(self._socket_sessions.values())
        if not hashes:
            return
        valid = await self.services.accounts.valid_sessions(sorted(hashes))
        for session_hash in hashes - valid:
            await self.services.accounts.end_session(session_hash)
            # Gone already (ended on another node, or the database's TTL took it): close ours here.
            for sid in [s for s, h in self._socket_sessions.items() if h == session_hash]:
                await self.disconnect(sid)

    async def sweeper_context(self, app: web.Application) -> AsyncIterator[None]:
        async def run() -> None:
            while True:
                await asyncio.sleep(SWEEP_EVERY_S)
                try:
                    await self.sweep()
                except Exception:
                    log.exception("agent_session_sweep_failed")

        task = asyncio.create_task(run())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def on_list(self, sid: str, payload: object) -> dict[str, Any]:
        view, limit = parse_list(payload)
        user = await self._user(sid)
        rows = await self.services.conversations.inbox(view, user.id, limit)
        # Names and previews leave the server decrypted: one event per list view, not per row.
        await self.services.audit.record(
            user.id, "conversations.listed", target_type="inbox", details={"view": view, "count": len(rows)}
        )
        return {"conversations": rows}

    async def on_agents(self, sid: str, payload: object) -> dict[str, Any]:
        """Colleagues and who is online now."""
        if payload not in (None, {}):
            raise InvalidInput("'agents' takes no fields.")
        await self._user(sid)
        online = await self.services.presence.online()
        users = await self.services.db.users.all()
        return {
            "agents": [
                {
                    "id": u.id,
                    "display_name": u.display_name or u.email.split("@")[0],
                    "role": u.role,
                    "online": u.id in online,
                }
                for u in users
                if not u.disabled
            ]
        }

    async def on_canned(self, sid: str, payload: object) -> dict[str, Any]:
        if payload not in (None, {}):
            raise InvalidInput("'canned' takes no fields.")
        await self._user(sid)
        return {
            "canned": [
                {"id": c.id, "shortcut": c.shortcut, "title": c.title, "text": c.text}
                for c in await self.services.db.canned.all()
            ]
        }

    async def on_claim(self, sid: str, payload: object) -> dict[str, Any]:
        """Assign to me (first claim wins) or, with `agent_id`, hand over to a colleague."""
        conversation_id, agent_id = parse_claim(payload)
        user = await self._user(sid)
        target = agent_id or user.id
        if agent_id is not None:
            colleague = await self.services.db.users.by_id(agent_id)
            if colleague is None or colleague.disabled:
                raise NotFound("No such agent.")
        before = await self.services.conversations.get(conversation_id)
        conv, won = await self.services.conversations.claim(conversation_id, target, force=agent_id is not None)
        if before.status == "bot" and conv.status != "bot":
            await self._tell_visitor_taken_over(conv)
        wire = summary_to_wire(conv)
        if not won:
            raise Conflict(
                "Another agent claimed this conversation first.",
                details={"assigned_agent_id": conv.assigned_agent_id},
            )
        await self.emit("conversation_updated", {"conversation": wire}, room=AGENTS_ROOM)
        return {"conversation": wire}

    async def _tell_visitor_taken_over(self, conv: Conversation) -> None:
        """A person took the conversation from the bot: the widget stops showing the bot as active."""
        await self.services.sio.emit(
            "conversation_status",
            {"status": conv.status, "handed_over": True},
            room=conversation_room(conv.id),
            namespace=VISITOR_NAMESPACE,
        )

    async def on_read(self, sid: str, payload: object) -> dict[str, Any]:
        conversation_id, seen = parse_read(payload)
        user = await self._user(sid)
        await self.services.conversations.mark_read(conversation_id, user.id, seen)
        return {}

    async def on_open(self, sid: str, payload: object) -> dict[str, Any]:
        conversation_id = parse_conversation_ref(payload)
        user = await self._user(sid)
        conv, visitor, messages = await self.services.conversations.open(conversation_id)
        # Accounted for before anything decrypted leaves the server.
        await self.services.audit.record(
            user.id, "conversation.opened", target_type="conversation", target_id=conversation_id
        )
        return {
            "conversation": {**summary_to_wire(conv), "visitor": visitor, "notice_version": conv.notice_version},
            "messages": [agent_message(m) for m in messages],
        }

    async def on_reply(self, sid: str, payload: object) -> dict[str, Any]:
        reply = parse_agent_reply(payload, self.services.settings.max_text_length)
        user = await self._user(sid)

        async def announce(view: MessageView) -> None:
            await self.services.sio.emit(
                "message",
                {"message": visitor_message(view)},
                room=conversation_room(reply.conversation_id),
                namespace=VISITOR_NAMESPACE,
            )
            await self.emit("message", {"message": view.to_wire()}, room=AGENTS_ROOM, skip_sid=sid)

        async def taken_over(conv: Conversation) -> None:
            await self.emit("conversation_updated", {"conversation": summary_to_wire(conv)}, room=AGENTS_ROOM)
            await self._tell_visitor_taken_over(conv)

        view, _ = await self.services.conversations.agent_reply(
            user, reply.conversation_id, reply.client_id, reply.text, announce, taken_over
        )
        return {"message": view.to_wire()}

    async def on_typing(self, sid: str, payload: object) -> dict[str, Any]:
        conversation_id, typing = parse_typing(payload, with_conversation=True)
        assert conversation_id is not None
        await self._user(sid)
        await self.services.sio.emit(
            "typing",
            {"typing": typing, "from": "agent"},
            room=conversation_room(conversation_id),
            namespace=VISITOR_NAMESPACE,
        )
        return {}

    async def _set_status(self, sid: str, payload: object, status: str) -> dict[str, Any]:
        conversation_id = parse_conversation_ref(payload)
        user = await self._user(sid)
        conv = await self.services.conversations.set_status(conversation_id, status)
        log.info("conversation_status", user_id=user.id, conversation_id=conversation_id, status=status)
        wire = summary_to_wire(conv)
        await self.emit("conversation_updated", {"conversation": wire}, room=AGENTS_ROOM)
        await self.services.sio.emit(
            "conversation_status",
            {"status": conv.status},
            room=conversation_room(conversation_id),
            namespace=VISITOR_NAMESPACE,
        )
        return {"conversation": wire}

    async def on_close(self, sid: str, payload: object) -> dict[str, Any]:
        return await self._set_status(sid, payload, "closed")

    async def on_reopen(self, sid: str, payload: object) -> dict[str, Any]:
        return await self._set_status(sid, payload, "open")
