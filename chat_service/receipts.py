""" "Seen" receipts for the visitor, derived from the read positions the console already keeps for
unread counts: nothing more is stored. An agent's position (n messages seen) becomes the time of the
n-th message, and the widget marks the visitor's messages up to that time as seen."""

from __future__ import annotations

from chat_service.conversations import iso
from chat_service.storage.widget import WidgetStore


async def seen_until(store: WidgetStore, conversation_id: str, seen: int) -> str | None:
    """When the last message an agent has seen (`seen` messages, oldest first) was stored."""
    return iso(await store.nth_message_at(conversation_id, seen))


async def visitor_seen_until(store: WidgetStore, conversation_id: str) -> str | None:
    """The same for the furthest any agent has read: what a resuming visitor is told."""
    return await seen_until(store, conversation_id, await store.most_seen(conversation_id))
