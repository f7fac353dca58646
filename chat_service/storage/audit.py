"""The append-only audit chain. Events are numbered; each stores the MAC of the one before."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from chat_service.models import AuditEvent
from chat_service.storage.database import translate_errors


def _event_from_doc(doc: dict[str, Any]) -> AuditEvent:
    return AuditEvent(
        seq=doc["_id"],
        at=doc["at"],
        actor_id=doc["actor_id"],
        action=doc["action"],
        target_type=doc.get("target_type"),
        target_id=doc.get("target_id"),
        details=doc.get("details", {}),
        prev_mac=doc["prev_mac"],
        mac=doc["mac"],
    )


class AuditStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]):
        self._col = db.audit_events

    @translate_errors
    async def last(self) -> AuditEvent | None:
        doc = await self._col.find_one({}, sort=[("_id", DESCENDING)])
        return None if doc is None else _event_from_doc(doc)

    @translate_errors
    async def insert(self, event: AuditEvent) -> bool:
        """Append at `event.seq`; False if another writer took that number first."""
        try:
            await self._col.insert_one(
                {
                    "_id": event.seq,
                    "at": event.at,
                    "actor_id": event.actor_id,
                    "action": event.action,
                    "target_type": event.target_type,
                    "target_id": event.target_id,
                    "details": event.details,
                    "prev_mac": event.prev_mac,
                    "mac": event.mac,
                }
            )
            return True
        except DuplicateKeyError:
            return False

    async def stream(self, since: datetime | None = None, after_seq: int = 0) -> AsyncIterator[AuditEvent]:
        query: dict[str, Any] = {"_id": {"$gt": after_seq}}
        if since is not None:
            query["at"] = {"$gte": since}
        async for doc in self._col.find(query, batch_size=1000).sort("_id", ASCENDING):
            yield _event_from_doc(doc)

    @translate_errors
    async def for_target(self, target_id: str) -> list[AuditEvent]:
        cursor = self._col.find({"target_id": target_id}).sort("_id", ASCENDING)
        return [_event_from_doc(doc) async for doc in cursor]

    @translate_errors
    async def last_before(self, before: datetime) -> AuditEvent | None:
        """The newest event older than `before`."""
        doc = await self._col.find_one({"at": {"$lt": before}}, sort=[("_id", DESCENDING)])
        return None if doc is None else _event_from_doc(doc)

    @translate_errors
    async def trim_marker(self) -> dict[str, Any] | None:
        """Where the chain starts after old events were deleted: {seq, mac, seal}."""
        return await self._col.database.audit_trim.find_one({"_id": "trim"})

    @translate_errors
    async def save_trim_marker(self, seq: int, mac: str, seal: str) -> None:
        await self._col.database.audit_trim.replace_one(
            {"_id": "trim"}, {"_id": "trim", "seq": seq, "mac": mac, "seal": seal}, upsert=True
        )

    @translate_errors
    async def delete_through(self, seq: int) -> int:
        result = await self._col.delete_many({"_id": {"$lte": seq}})
        return result.deleted_count

    @translate_errors
    async def recent(self, limit: int, before_seq: int | None = None) -> list[AuditEvent]:
        query: dict[str, Any] = {} if before_seq is None else {"_id": {"$lt": before_seq}}
        cursor = self._col.find(query).sort("_id", DESCENDING).limit(limit)
        return [_event_from_doc(doc) async for doc in cursor]
