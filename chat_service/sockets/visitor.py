"""`/visitor`: the website visitor. Connecting stores nothing; the first message starts contact."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from socketio.exceptions import ConnectionRefusedError as SocketRefused

from chat_service.agent_names import AGENT_NAMES
from chat_service.bots.texts import language_of
from chat_service.conversations import (
    MIN_RECOVERABLE_CLIENT_ID,
    MessageView,
    VisitorContext,
    agent_message,
    summary_to_wire,
)
from chat_service.crypto import hash_token
from chat_service.errors import InvalidInput, RateLimited
from chat_service.limits import ADDRESS_LIMITS, AddressLimits, ConnectionLimits, limit_settings
from chat_service.metrics import count_refusal
from chat_service.models import Conversation
from chat_service.receipts import visitor_seen_until
from chat_service.services import SERVICES, Services
from chat_service.sites import SITES, own_origins
from chat_service.sockets.base import BaseNamespace, client_ip
from chat_service.sockets.fanout import emit_to_agents
from chat_service.storage.erasures import EndReason
from chat_service.validation import (
    VisitorMessageIn,
    parse_rate,
    parse_resume,
    parse_transcript,
    parse_typing,
    parse_visitor_message,
)

NAMESPACE = "/visitor"


def conversation_room(conversation_id: str) -> str:
    return f"conv:{conversation_id}"


def visitor_message(view: MessageView, names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A message as a visitor sees it: no staff identifiers, only the agent's first name (if the
    site shows names; `names` from `AgentNames`)."""
    wire = view.to_wire()
    agent_id = wire.pop("agent_id", None)
    if names and agent_id in names:
        wire["agent"] = {"name": names[agent_id]}
    return wire


def resumed_message(view: MessageView, conv: Conversation, names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A message of resumed history. The first message's client id is withheld: it can restart the
    conversation, and whoever holds the token has no need of it (the widget keys it by its id)."""
    wire = visitor_message(view, names)
    if (
        view.sender == "visitor"
        and conv.first_client_hash
        and len(view.client_id) >= MIN_RECOVERABLE_CLIENT_ID
        and hash_token("first-message:" + view.client_id) == conv.first_client_hash
    ):
        wire.pop("client_id")
    return wire


async def close_conversation_sockets(sio: Any, conversation_id: str, reason: EndReason) -> None:
    """Tell this node's visitor sockets on a conversation that it ended, and disconnect them."""
    room = conversation_room(conversation_id)
    for sid, _ in list(sio.manager.get_participants(NAMESPACE, room)):
        # Straight to the local socket (not through Redis): it must arrive before the disconnect.
        await sio.emit("conversation_ended", {"reason": reason}, to=sid, namespace=NAMESPACE, ignore_queue=True)
        await sio.disconnect(sid, namespace=NAMESPACE)


class VisitorNamespace(BaseNamespace):
    @property
    def services(self) -> Services:
        return self.app[SERVICES]

    @property
    def address_limits(self) -> AddressLimits:
        return self.app[ADDRESS_LIMITS]

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        # Held in memory for this connection only; stored (encrypted) if the visitor writes.
        request = environ.get("aiohttp.request")
        site_id = auth.get("site") if isinstance(auth, dict) else None
        own = own_origins(request, self.services.settings.public_url)
        if site_id is not None and not self.app[SITES].allows(site_id, environ.get("HTTP_ORIGIN"), own):
            raise SocketRefused({"code": "forbidden_origin", "message": "This site does not allow this origin."})
        user_agent = environ.get("HTTP_USER_AGENT")
        context = VisitorContext(
            ip=client_ip(request, self.services.settings.trust_proxy),
            user_agent=user_agent[:512] if isinstance(user_agent, str) else None,
        )
        address = self.address_limits.key(context.ip)
        try:
            self.address_limits.connect(address)
        except RateLimited as exc:
            count_refusal(self.app, exc)
            # As Socket.IO clients expect it: `err.message`, and the error object as `err.data`.
            raise SocketRefused(exc.message, exc.to_wire()) from None
        # The lock serialises this connection's sends: python-socketio runs handlers
        # concurrently, and two first messages must not start two conversations.
        await self.save_session(
            sid,
            {
                "context": context,
                "conversation_id": None,
                "site_id": None,
                "connected_site": site_id if isinstance(site_id, str) else None,
                "lock": asyncio.Lock(),
                "address": address,
                "limits": ConnectionLimits(limit_settings(self.app)),
            },
        )

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        try:
            session = await self._session(sid)
        except KeyError:  # never fully connected
            return
        self.address_limits.disconnect(session.get("address"))

    async def _session(self, sid: str) -> dict[str, Any]:
        session: dict[str, Any] = await self.get_session(sid)
        return session

    async def on_message(self, sid: str, payload: object) -> dict[str, Any]:
        services = self.services
        incoming = parse_visitor_message(payload, services.settings.max_text_length)
        session = await self._session(sid)
        session["limits"].message()
        async with session["lock"]:
            return await self._send(sid, session, incoming)

    async def _send(self, sid: str, session: dict[str, Any], incoming: VisitorMessageIn) -> dict[str, Any]:
        services = self.services
        conversation_id = session.get("conversation_id")
        if conversation_id is None:
            connected = session.get("connected_site")
            if connected is not None and incoming.site_id not in (None, connected):
                # The site decides which team sees the chat: it is the one the origin was checked for.
                raise InvalidInput("'site_id' is not the site this connection was opened for.")
            if connected is not None and incoming.site_id is None:
                incoming = replace(incoming, site_id=connected)
            await self.address_limits.new_conversation(session.get("address"))
            # "Talk to a person" before writing: this conversation starts with people.
            with_bot = services.bots.starts_with_bot(incoming.site_id) and not session.get("wants_person")
            started = await services.conversations.start(incoming, session["context"], with_bot=with_bot)
            conversation_id = started.conversation.id
            site_id = started.conversation.site_id
            session["conversation_id"] = conversation_id
            session["with_bot"] = started.conversation.status == "bot"
            session["site_id"] = site_id
            await self.save_session(sid, session)
            await self.enter_room(sid, conversation_room(conversation_id))
            if started.is_new:
                await emit_to_agents(
                    services.sio,
                    "conversation_created",
                    {"conversation": summary_to_wire(started.conversation), "message": agent_message(started.message)},
                    site_id,
                )
            if started.is_new and session["with_bot"]:
                services.bots.schedule(conversation_id, started.message)
            return {
                "conversation_id": conversation_id,
                "token": started.token,
                "message": visitor_message(started.message),
            }

        if incoming.profile != type(incoming.profile)() or incoming.offline:
            raise InvalidInput("Profile details are sent with the first message only.")

        site_id = session.get("site_id")

        async def announce(view: MessageView) -> None:
            await emit_to_agents(services.sio, "message", {"message": agent_message(view)}, site_id)
            await self.emit(
                "message", {"message": visitor_message(view)}, room=conversation_room(conversation_id), skip_sid=sid
            )

        view, is_new, reopened = await services.conversations.visitor_send(
            conversation_id, incoming.client_id, incoming.text, announce
        )
        if is_new and session.get("with_bot"):
            # After the ack is decided, never before it; the turn itself checks the bot still has it.
            services.bots.schedule(conversation_id, view)
        if reopened is not None:
            await emit_to_agents(
                services.sio, "conversation_updated", {"conversation": summary_to_wire(reopened)}, site_id
            )
        return {"conversation_id": conversation_id, "message": visitor_message(view)}

    async def on_resume(self, sid: str, payload: object) -> dict[str, Any]:
        token = parse_resume(payload)
        session = await self._session(sid)
        async with session["lock"]:
            conv, history = await self.services.conversations.resume(token)
            previous = session.get("conversation_id")
            if previous is not None and previous != conv.id:
                await self.leave_room(sid, conversation_room(previous))
            session["conversation_id"] = conv.id
            session["with_bot"] = conv.status == "bot"
            session["site_id"] = conv.site_id
            await self.save_session(sid, session)
            await self.enter_room(sid, conversation_room(conv.id))
        names = await self.app[AGENT_NAMES].for_visitor(
            self.services.db.users, self.app[SITES].get(conv.site_id), (m.agent_id for m in history)
        )
        return {
            "conversation_id": conv.id,
            "status": conv.status,
            "messages": [resumed_message(m, conv, names) for m in history],
            "seen_until": await visitor_seen_until(self.services.db.widget, conv.id),
        }

    async def on_typing(self, sid: str, payload: object) -> dict[str, Any]:
        _, typing = parse_typing(payload, with_conversation=False)
        session = await self._session(sid)
        session["limits"].typing()
        conversation_id = session.get("conversation_id")
        if conversation_id is None:
            return {}  # nothing to tell anyone before contact, and nothing is stored
        await emit_to_agents(
            self.services.sio,
            "typing",
            {"conversation_id": conversation_id, "typing": typing, "from": "visitor"},
            session.get("site_id"),
        )
        return {}

    async def on_handover(self, sid: str, payload: object) -> dict[str, Any]:
        """The visitor asks for a person: the bot hands it over (before the first message: the bot never gets it)."""
        if payload not in (None, {}):
            raise InvalidInput("'handover' takes no fields.")
        session = await self._session(sid)
        async with session["lock"]:
            conversation_id = session.get("conversation_id")
            if conversation_id is None:
                session["wants_person"] = True
                await self.save_session(sid, session)
                return {"status": None}
            session["with_bot"] = False
            await self.save_session(sid, session)
            bots = self.services.bots
            conv = await self.services.conversations.get(conversation_id)
            if conv.status == "bot":
                fields = await self.services.conversations.visitor_fields(conv)
                changed = await bots.hand_over(conversation_id, "request", language_of(fields.get("language")))
                if changed is not None:
                    conv = changed
            return {"status": conv.status}

    async def on_transcript(self, sid: str, payload: object) -> dict[str, Any]:
        """E-mail the conversation so far to the address the visitor gives (an explicit request)."""
        request = parse_transcript(payload)
        session = await self._session(sid)
        conversation_id = session.get("conversation_id")
        if conversation_id is None:
            raise InvalidInput("There is no conversation to send yet.")
        await self.address_limits.transcript(conversation_id)
        count = await self.services.conversations.transcript(conversation_id, request.email, request.language)
        return {"messages": count}

    async def on_rate(self, sid: str, payload: object) -> dict[str, Any]:
        """Rate the conversation after it closed (once): 1-5 and an optional comment."""
        rating, comment = parse_rate(payload)
        session = await self._session(sid)
        session["limits"].message()
        conversation_id = session.get("conversation_id")
        if conversation_id is None:
            raise InvalidInput("There is no conversation to rate.")
        await self.services.conversations.rate(conversation_id, rating, comment)
        return {}

    async def on_forget(self, sid: str, payload: object) -> dict[str, Any]:
        """End the chat and forget this device: the token stops working for everyone."""
        if payload not in (None, {}):
            raise InvalidInput("'forget' takes no fields.")
        session = await self._session(sid)
        async with session["lock"]:
            conversation_id = session.get("conversation_id")
            if conversation_id is not None:
                await self.leave_room(sid, conversation_room(conversation_id))
                session["conversation_id"] = None
                await self.save_session(sid, session)
                conv = await self.services.conversations.forget(conversation_id)
                if conv is not None:
                    # `visitor_left` is sent this once, so the console can say why it closed.
                    await emit_to_agents(
                        self.services.sio,
                        "conversation_updated",
                        {"conversation": {**summary_to_wire(conv), "visitor_left": True}},
                        conv.site_id,
                    )
        return {}
