"""What the visitor widget shows beyond the messages, read from what is stored anyway: recent
first-response times (timestamps only) and how far agents have read a conversation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from chat_service.storage.database import translate_errors


class WidgetStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]):
        self._conversations = db.conversations
        self._messages = db.messages
        self._reads = db.conversation_reads

    @translate_errors
    async def first_response_seconds(self, site_id: str, since: datetime, limit: int) -> list[float]:
        """Seconds from start to the first agent message, for the site's `limit` most recently
        active live-chat conversations since `since` that an agent answered."""
        # The `retention` index on last_activity_at narrows this to recent conversations.
        cursor = (
            self._conversations.find(
                {"last_activity_at": {"$gte": since}, "site_id": site_id, "offline": {"$ne": True}},
                {"created_at": 1},
            )
            .sort("last_activity_at", DESCENDING)
            .limit(limit)
        )
        started = {doc["_id"]: doc["created_at"] async for doc in cursor}
        if not started:
            return []
        pipeline: list[dict[str, Any]] = [
            {"$match": {"conversation_id": {"$in": list(started)}, "sender": "agent"}},
            {"$group": {"_id": "$conversation_id", "first": {"$min": "$created_at"}}},
        ]
        return [
            (row["first"] - started[row["_id"]]).total_seconds()
            async for row in await self._messages.aggregate(pipeline)
            if row["_id"] in started
        ]

    @translate_errors
    async def most_seen(self, conversation_id: str) -> int:
        """The most messages of the conversation any agent has seen (the read positions kept for
        unread counts; `_id` is `<conversation>:<user>`, so its index finds them)."""
        cursor = self._reads.find({"_id": {"$gt": conversation_id + ":", "$lt": conversation_id + ";"}}, {"seen": 1})
        return max([int(doc.get("seen", 0)) async for doc in cursor], default=0)

    @translate_errors
    async def nth_message_at(self, conversation_id: str, n: int) -> datetime | None:
        """When the conversation's n-th message (1-based, oldest first) was stored."""
        if n < 1:
            return None
        cursor = (
            self._messages.find({"conversation_id": conversation_id}, {"created_at": 1})
            .sort([("created_at", ASCENDING), ("_id", ASCENDING)])
            .skip(n - 1)
            .limit(1)
        )
        async for doc in cursor:
            at: datetime = doc["created_at"]
            return at
        return None
