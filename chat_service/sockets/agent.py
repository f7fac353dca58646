"""`/agent`: support staff. Only a valid session cookie may connect."""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie
from typing import Any

from socketio.exceptions import ConnectionRefusedError as SocketRefused

from chat_service.conversations import MessageView, agent_message, summary_to_wire
from chat_service.errors import ChatError, Conflict, InvalidInput, NotFound, Unauthenticated
from chat_service.models import User
from chat_service.services import SERVICES, Services
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
    @property
    def services(self) -> Services:
        return self.app[SERVICES]

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        try:
            authenticated = await self.services.accounts.authenticate(session_cookie(environ))
        except ChatError as exc:
            log.info("agent_connect_refused", code=exc.code)
            raise SocketRefused({"code": exc.code, "message": exc.message}) from None
        user = authenticated.user
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
        if not await self.services.presence.disconnected(sid, user_id):
            await self.emit("presence", {"user_id": user_id, "online": False}, room=AGENTS_ROOM)

    async def _user(self, sid: str) -> User:
        session = await self.get_session(sid)
        user = await self.services.db.users.by_id(session["user_id"])
        if user is None or user.disabled:
            await self.disconnect(sid)
            raise Unauthenticated()
        return user

    async def on_list(self, sid: str, payload: object) -> dict[str, Any]:
        view, limit = parse_list(payload)
        user = await self._user(sid)
        return {"conversations": await self.services.conversations.inbox(view, user.id, limit)}

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
        conv, won = await self.services.conversations.claim(conversation_id, target, force=agent_id is not None)
        wire = summary_to_wire(conv)
        if not won:
            raise Conflict(
                "Another agent claimed this conversation first.",
                details={"assigned_agent_id": conv.assigned_agent_id},
            )
        await self.emit("conversation_updated", {"conversation": wire}, room=AGENTS_ROOM)
        return {"conversation": wire}

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

        view, _ = await self.services.conversations.agent_reply(
            user, reply.conversation_id, reply.client_id, reply.text, announce
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
