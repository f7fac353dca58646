"""What the bot runner tells people, as Socket.IO events (through `sio.emit`, so Redis fans them out)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import socketio

from chat_service.conversations import MessageView, agent_message, summary_to_wire
from chat_service.models import Conversation
from chat_service.sockets.fanout import emit_to_agents
from chat_service.sockets.visitor import NAMESPACE as VISITOR_NAMESPACE
from chat_service.sockets.visitor import conversation_room, visitor_message


class SocketBotEvents:
    def __init__(self, sio: socketio.AsyncServer, site_of: Callable[[str], Awaitable[str | None]]):
        self._sio = sio
        # Agents hear a conversation's events only through its site's room (team isolation).
        self._site_of = site_of

    async def message(self, view: MessageView) -> None:
        room = conversation_room(view.conversation_id)
        await self._sio.emit("message", {"message": visitor_message(view)}, room=room, namespace=VISITOR_NAMESPACE)
        site_id = await self._site_of(view.conversation_id)
        await emit_to_agents(self._sio, "message", {"message": agent_message(view)}, site_id)

    async def handed_over(self, conv: Conversation) -> None:
        await emit_to_agents(self._sio, "conversation_updated", {"conversation": summary_to_wire(conv)}, conv.site_id)
        await self._sio.emit(
            "conversation_status",
            {"status": conv.status, "handed_over": True},
            room=conversation_room(conv.id),
            namespace=VISITOR_NAMESPACE,
        )
