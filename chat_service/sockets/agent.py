"""`/agent`: support staff. Only a valid session cookie from the service's own origin may connect,
and every event re-checks that the session is still valid."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any

import socketio
from aiohttp import web

from chat_service.agent_names import AGENT_NAMES
from chat_service.conversations import MessageView, agent_message, csat_view, summary_to_wire
from chat_service.errors import ChatError, Conflict, ForbiddenOrigin, InvalidInput, NotFound, Unauthenticated
from chat_service.models import Conversation, User
from chat_service.notes import Notes
from chat_service.receipts import seen_until
from chat_service.services import SERVICES, SETTINGS, Services
from chat_service.sites import SITES, own_origins
from chat_service.sockets.base import BaseNamespace, log
from chat_service.sockets.fanout import AGENTS_ROOM, emit_to_agents, rooms_of
from chat_service.sockets.visitor import NAMESPACE as VISITOR_NAMESPACE
from chat_service.sockets.visitor import conversation_room, visitor_message
from chat_service.validation import (
    AgentReplyIn,
    parse_agent_reply,
    parse_agent_status,
    parse_agent_typing,
    parse_claim,
    parse_conversation_ref,
    parse_labels,
    parse_list,
    parse_note,
    parse_read,
    parse_viewing,
)

NAMESPACE = "/agent"
SESSION_COOKIE = "chat_session"
# An event trusts this node's memory of its session for this long, then asks the database again.
# Logout, password change and admin action do not wait for it: they close the sockets at once.
RECHECK_AFTER_S = 10.0
# How often this node looks for sessions that ended without anyone acting (idle or absolute expiry).
SWEEP_EVERY_S = 10.0
EARLIER_LIMIT = 20
LABEL_SUGGESTIONS = 200


def viewing_room(conversation_id: str) -> str:
    """The consoles showing one conversation now (for "<colleague> is viewing / typing")."""
    return f"viewing:{conversation_id}"


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
        # This node's sockets only: sid -> the conversation it shows (memory only, never stored).
        self._viewing: dict[str, str] = {}
        self._notes: Notes | None = None

    @property
    def services(self) -> Services:
        return self.app[SERVICES]

    @property
    def notes(self) -> Notes:
        if self._notes is None:
            self._notes = Notes(self.services.db, self.services.conversations)
        return self._notes

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
        # Presence first: a team change from now on finds this socket and moves it (fanout.py).
        await self.services.presence.connected(sid, user.id)
        for room in sorted(rooms_of(await self.services.teams.scope(user))):
            await self.enter_room(sid, room)
        status = await self.services.presence.status_of(user.id)
        await self.emit("presence", {"user_id": user.id, "online": True, "status": status}, room=AGENTS_ROOM)
        log.info("agent_connected", user_id=user.id)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        session = await self.get_session(sid)
        user_id = session.get("user_id")
        if user_id is None:
            return
        await self._leave_viewing(sid, user_id)
        session_hash = self._socket_sessions.pop(sid, None)
        if session_hash is not None:
            if session_hash not in self._socket_sessions.values():
                self._checked.pop(session_hash, None)
            with contextlib.suppress(ChatError):
                await self.services.db.sessions.remove_socket(session_hash, sid)
        if not await self.services.presence.disconnected(sid, user_id):
            status = await self.services.presence.status_of(user_id)
            await self.emit("presence", {"user_id": user_id, "online": False, "status": status}, room=AGENTS_ROOM)

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
            log.info("agent_session_swept", sockets=sum(h == session_hash for h in self._socket_sessions.values()))
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
        scope = await self.services.teams.scope(user)
        rows = await self.services.conversations.inbox(view, user.id, limit, sites=scope.sites)
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
        statuses = await self.services.presence.statuses()
        users = await self.services.db.users.all()
        return {
            "agents": [
                {
                    "id": u.id,
                    "display_name": u.display_name or u.email.split("@")[0],
                    "role": u.role,
                    "online": u.id in online,
                    "status": statuses.get(u.id, "online"),
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
        site_id = await self.services.teams.require(user, conversation_id)
        target = agent_id or user.id
        if agent_id is not None:
            colleague = await self.services.db.users.by_id(agent_id)
            # A colleague outside the site's teams could not even open it.
            if (
                colleague is None
                or colleague.disabled
                or not (await self.services.teams.scope(colleague)).allows(site_id)
            ):
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
        await emit_to_agents(self.services.sio, "conversation_updated", {"conversation": wire}, site_id)
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
        await self.services.teams.require(user, conversation_id)
        await self.services.conversations.mark_read(conversation_id, user.id, seen)
        # The visitor's "seen" receipt: up to the last message this agent has seen.
        until = await seen_until(self.services.db.widget, conversation_id, seen)
        if until is not None:
            await self.services.sio.emit(
                "seen", {"until": until}, room=conversation_room(conversation_id), namespace=VISITOR_NAMESPACE
            )
        return {}

    async def on_open(self, sid: str, payload: object) -> dict[str, Any]:
        conversation_id = parse_conversation_ref(payload)
        user = await self._user(sid)
        await self.services.teams.require(user, conversation_id)
        conversations = self.services.conversations
        conv, key, visitor, messages = await conversations.open_with_key(conversation_id)
        notes = await self.notes.of_conversation(conversation_id)
        # Accounted for before anything decrypted leaves the server.
        await self.services.audit.record(
            user.id, "conversation.opened", target_type="conversation", target_id=conversation_id
        )
        return {
            "conversation": {
                **summary_to_wire(conv),
                "visitor": visitor,
                "notice_version": conv.notice_version,
                "csat": csat_view(conv, key),
            },
            "messages": [agent_message(m) for m in messages],
            "notes": [n.to_wire() for n in notes],
        }

    async def _visitor_names(self, user: User, conversation_id: str) -> Mapping[str, str]:
        """The names the visitor sees for the agents of this conversation (per the site's setting)."""
        agent_names = self.app[AGENT_NAMES]
        agent_names.remember(user.id, user.display_name)
        return await agent_names.for_conversation(self.services.db, self.app[SITES], conversation_id, [user.id])

    def _announcer(
        self, sid: str, conversation_id: str, site_id: str | None, names: Mapping[str, str]
    ) -> Callable[[MessageView], Awaitable[None]]:
        """Show a new agent message to the visitor and to the other agents (not the sender's socket)."""

        async def announce(view: MessageView) -> None:
            await self.services.sio.emit(
                "message",
                {"message": visitor_message(view, names)},
                room=conversation_room(conversation_id),
                namespace=VISITOR_NAMESPACE,
            )
            await emit_to_agents(self.services.sio, "message", {"message": view.to_wire()}, site_id, skip_sid=sid)

        return announce

    async def _taken_over(self, conv: Conversation) -> None:
        """A reply took a bot conversation over: every agent's inbox moves it."""
        await emit_to_agents(
            self.services.sio, "conversation_updated", {"conversation": summary_to_wire(conv)}, conv.site_id
        )
        await self._tell_visitor_taken_over(conv)

    async def _reply_context(
        self, sid: str, payload: object
    ) -> tuple[AgentReplyIn, User, Callable[[MessageView], Awaitable[None]]]:
        """A reply's payload, its author (who must see the conversation's site) and its announcer."""
        reply = parse_agent_reply(payload, self.services.settings.max_text_length)
        user = await self._user(sid)
        site_id = await self.services.teams.require(user, reply.conversation_id)
        names = await self._visitor_names(user, reply.conversation_id)
        return reply, user, self._announcer(sid, reply.conversation_id, site_id, names)

    async def on_reply(self, sid: str, payload: object) -> dict[str, Any]:
        reply, user, announce = await self._reply_context(sid, payload)
        view, _ = await self.services.conversations.agent_reply(
            user, reply.conversation_id, reply.client_id, reply.text, announce, self._taken_over
        )
        return {"message": view.to_wire()}

    async def on_email_reply(self, sid: str, payload: object) -> dict[str, Any]:
        """Answer by e-mail (an offline conversation): stored like a reply, and mailed to the
        visitor's address through the outbox. Same payload and ack as `reply`."""
        reply, user, announce = await self._reply_context(sid, payload)
        view, is_new = await self.services.conversations.agent_email_reply(
            user, reply.conversation_id, reply.client_id, reply.text, announce
        )
        if is_new:
            log.info("agent_email_reply", user_id=user.id, conversation_id=reply.conversation_id)
        return {"message": view.to_wire()}

    async def on_typing(self, sid: str, payload: object) -> dict[str, Any]:
        """Typing a reply (the visitor and colleagues see it) or, with `note`, a note (colleagues only)."""
        conversation_id, typing, note = parse_agent_typing(payload)
        user = await self._user(sid)
        await self.services.teams.require(user, conversation_id)
        if not note:
            await self.services.sio.emit(
                "typing",
                {"typing": typing, "from": "agent"},
                room=conversation_room(conversation_id),
                namespace=VISITOR_NAMESPACE,
            )
        await self.emit(
            "colleague",
            {"conversation_id": conversation_id, "user_id": user.id, "viewing": True, "typing": typing},
            room=viewing_room(conversation_id),
            skip_sid=sid,
        )
        return {}

    # --- working together: notes, labels, earlier conversations, who is here -------------------

    async def on_note(self, sid: str, payload: object) -> dict[str, Any]:
        """An internal note: to colleagues only, never to the visitor, bots or webhooks."""
        conversation_id, text = parse_note(payload, self.services.settings.max_text_length)
        user = await self._user(sid)
        site_id = await self.services.teams.require(user, conversation_id)
        note = (await self.notes.add(user.id, conversation_id, text)).to_wire()
        log.info("note_added", user_id=user.id, conversation_id=conversation_id)
        await emit_to_agents(self.services.sio, "note", {"note": note}, site_id, skip_sid=sid)
        return {"note": note}

    async def on_labels(self, sid: str, payload: object) -> dict[str, Any]:
        """Replace a conversation's labels (the whole set: no lost update between two agents' edits
        beyond the last one winning, which both consoles then show)."""
        conversation_id, labels = parse_labels(payload)
        user = await self._user(sid)
        site_id = await self.services.teams.require(user, conversation_id)
        conv = await self.services.conversations.set_labels(conversation_id, labels)
        log.info("labels_set", user_id=user.id, conversation_id=conversation_id, count=len(labels))
        wire = summary_to_wire(conv)
        await emit_to_agents(self.services.sio, "conversation_updated", {"conversation": wire}, site_id)
        return {"conversation": wire}

    async def on_label_suggestions(self, sid: str, payload: object) -> dict[str, Any]:
        if payload not in (None, {}):
            raise InvalidInput("'label_suggestions' takes no fields.")
        await self._user(sid)
        return {"labels": await self.services.db.conversations.labels_in_use(LABEL_SUGGESTIONS)}

    async def on_earlier(self, sid: str, payload: object) -> dict[str, Any]:
        """The visitor's other conversations (same e-mail, via the blind index); an audited access."""
        conversation_id = parse_conversation_ref(payload)
        user = await self._user(sid)
        await self.services.teams.require(user, conversation_id)
        scope = await self.services.teams.scope(user)
        # The same person's conversations on sites outside this agent's teams stay unseen.
        found = [
            c
            for c in await self.services.conversations.earlier(conversation_id, EARLIER_LIMIT)
            if scope.allows(c.site_id)
        ]
        await self.services.audit.record(
            user.id,
            "conversation.earlier_listed",
            target_type="conversation",
            target_id=conversation_id,
            details={"count": len(found)},
        )
        return {"conversations": [summary_to_wire(c) for c in found]}

    async def on_viewing(self, sid: str, payload: object) -> dict[str, Any]:
        """This console shows `conversation_id` now (or none). Colleagues showing it hear of it and,
        unless this is itself an answer, answer with their own presence. Nothing is stored."""
        conversation_id, answer = parse_viewing(payload)
        user = await self._user(sid)
        if conversation_id is not None:
            await self.services.teams.require(user, conversation_id)
        if self._viewing.get(sid) != conversation_id:
            await self._leave_viewing(sid, user.id)
        if conversation_id is None:
            return {}
        self._viewing[sid] = conversation_id
        await self.enter_room(sid, viewing_room(conversation_id))
        await self.emit(
            "colleague",
            {
                "conversation_id": conversation_id,
                "user_id": user.id,
                "viewing": True,
                "typing": False,
                "ask": not answer,
            },
            room=viewing_room(conversation_id),
            skip_sid=sid,
        )
        return {}

    async def _leave_viewing(self, sid: str, user_id: str) -> None:
        previous = self._viewing.pop(sid, None)
        if previous is None:
            return
        await self.leave_room(sid, viewing_room(previous))
        await self.emit(
            "colleague",
            {"conversation_id": previous, "user_id": user_id, "viewing": False, "typing": False},
            room=viewing_room(previous),
        )

    async def on_status(self, sid: str, payload: object) -> dict[str, Any]:
        """The agent's chosen status; only `online` agents count as available to visitors."""
        status = parse_agent_status(payload)
        user = await self._user(sid)
        await self.services.presence.set_status(user.id, status)
        log.info("agent_status", user_id=user.id, status=status)
        await self.emit("presence", {"user_id": user.id, "online": True, "status": status}, room=AGENTS_ROOM)
        return {"status": status}

    async def _set_status(self, sid: str, payload: object, status: str) -> dict[str, Any]:
        conversation_id = parse_conversation_ref(payload)
        user = await self._user(sid)
        site_id = await self.services.teams.require(user, conversation_id)
        conv = await self.services.conversations.set_status(conversation_id, status)
        log.info("conversation_status", user_id=user.id, conversation_id=conversation_id, status=status)
        wire = summary_to_wire(conv)
        await emit_to_agents(self.services.sio, "conversation_updated", {"conversation": wire}, site_id)
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
