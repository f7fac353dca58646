"""What the bot runner tells people, as Socket.IO events (through `sio.emit`, so Redis fans them out)."""

from __future__ import annotations

import socketio

from chat_service.conversations import MessageView, agent_message, summary_to_wire
from chat_service.models import Conversation
from chat_service.sockets.visitor import NAMESPACE as VISITOR_NAMESPACE
from chat_service.sockets.visitor import conversation_room, visitor_message

AGENT_NAMESPACE = "/agent"
AGENTS_ROOM = "agents"


class SocketBotEvents:
    def __init__(self, sio: socketio.AsyncServer):
        self._sio = sio

    async def message(self, view: MessageView) -> None:
        room = conversation_room(view.conversation_id)
        await self._sio.emit("message", {"message": visitor_message(view)}, room=room, namespace=VISITOR_NAMESPACE)
        await self._sio.emit("message", {"message": agent_message(view)}, room=AGENTS_ROOM, namespace=AGENT_NAMESPACE)

    async def handed_over(self, conv: Conversation) -> None:
        await self._sio.emit(
            "conversation_updated", {"conversation": summary_to_wire(conv)}, room=AGENTS_ROOM, namespace=AGENT_NAMESPACE
        )
        await self._sio.emit(
            "conversation_status",
            {"status": conv.status, "handed_over": True},
            room=conversation_room(conv.id),
            namespace=VISITOR_NAMESPACE,
        )
