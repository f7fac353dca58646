"""The outbox: deliveries written with the change they report, webhook endpoints, and leases.

A delivery is claimed by a worker with a lease (a unique token and a time until which no other
worker takes it). The lease lives in `next_attempt_at`: a claimed delivery is simply not due
again until its lease has run out, so a worker that dies mid-send lets another retry it later,
and claiming needs no `$or` (which SecantusDB answers by scanning).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.asynchronous.mongo_client import AsyncMongoClient

from chat_service.storage.database import DURABLE, translate_errors

T = TypeVar("T")
DeliveryStatus = Literal["pending", "delivered", "failed"]


@dataclass(frozen=True)
class Delivery:
    """One message to one endpoint. `payload` is ciphertext, or plain JSON when `conversation_id` is None
    (such events carry ids only: test events, `privacy.erased`)."""

    id: str
    endpoint_id: str
    event_type: str
    created_at: datetime
    payload: bytes
    conversation_id: str | None
    expires_at: datetime
    status: DeliveryStatus = "pending"
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None
    lease: str | None = None


@dataclass(frozen=True)
class AttemptResult:
    """What one attempt changed; written back guarded by the lease that sent it."""

    delivery_id: str
    lease: str
    status: DeliveryStatus
    attempts: int
    at: datetime
    next_attempt_at: datetime | None
    status_code: int | None
    error: str | None
    expires_at: datetime


@dataclass(frozen=True)
class EndpointSecret:
    id: str
    ciphertext: bytes
    created_at: datetime
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Endpoint:
    id: str
    url: str
    region: str
    events: tuple[str, ...]
    fields: tuple[str, ...]
    enabled: bool
    created_at: datetime
    updated_at: datetime
    description: str = ""
    disabled_reason: str | None = None
    secrets: tuple[EndpointSecret, ...] = field(default_factory=tuple)


def delivery_to_doc(d: Delivery) -> dict[str, Any]:
    return {
        "_id": d.id,
        "endpoint_id": d.endpoint_id,
        "event_type": d.event_type,
        "created_at": d.created_at,
        "payload": d.payload,
        "conversation_id": d.conversation_id,
        "expires_at": d.expires_at,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": d.next_attempt_at or d.created_at,
        "last_attempt_at": d.last_attempt_at,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "delivered_at": d.delivered_at,
        "lease": d.lease,
    }


def _delivery_from_doc(doc: dict[str, Any]) -> Delivery:
    return Delivery(
        id=doc["_id"],
        endpoint_id=doc["endpoint_id"],
        event_type=doc["event_type"],
        created_at=doc["created_at"],
        payload=bytes(doc["payload"]),
        conversation_id=doc.get("conversation_id"),
        expires_at=doc["expires_at"],
        status=doc["status"],
        attempts=doc.get("attempts", 0),
        next_attempt_at=doc.get("next_attempt_at"),
        last_attempt_at=doc.get("last_attempt_at"),
        last_status_code=doc.get("last_status_code"),
        last_error=doc.get("last_error"),
        delivered_at=doc.get("delivered_at"),
        lease=doc.get("lease"),
    )


def _endpoint_to_doc(e: Endpoint) -> dict[str, Any]:
    return {
        "_id": e.id,
        "url": e.url,
        "region": e.region,
        "events": list(e.events),
        "fields": list(e.fields),
        "enabled": e.enabled,
        "created_at": e.created_at,
        "updated_at": e.updated_at,
        "description": e.description,
        "disabled_reason": e.disabled_reason,
        "secrets": [_secret_to_doc(s) for s in e.secrets],
    }


def _secret_to_doc(s: EndpointSecret) -> dict[str, Any]:
    return {"id": s.id, "ciphertext": s.ciphertext, "created_at": s.created_at, "expires_at": s.expires_at}


def _endpoint_from_doc(doc: dict[str, Any]) -> Endpoint:
    return Endpoint(
        id=doc["_id"],
        url=doc["url"],
        region=doc["region"],
        events=tuple(doc.get("events", ())),
        fields=tuple(doc.get("fields", ())),
        enabled=bool(doc.get("enabled", True)),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        description=doc.get("description", ""),
        disabled_reason=doc.get("disabled_reason"),
        secrets=tuple(
            EndpointSecret(s["id"], bytes(s["ciphertext"]), s["created_at"], s.get("expires_at"))
            for s in doc.get("secrets", ())
        ),
    )


class OutboxStore:
    """Deliveries: enqueue with a change, claim under a lease, record attempts, list, expire."""

    def __init__(self, client: AsyncMongoClient[dict[str, Any]], db: AsyncDatabase[dict[str, Any]]):
        self._client = client
        self._db = db
        self._col = db.outbox

    async def ensure_indexes(self) -> None:
        await self._col.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)], name="due")
        await self._col.create_index([("endpoint_id", ASCENDING), ("created_at", DESCENDING)], name="endpoint_log")
        await self._col.create_index([("conversation_id", ASCENDING)], name="conversation", sparse=True)
        # Retention: MongoDB's TTL monitor deletes each entry once its `expires_at` has passed.
        await self._col.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0, name="retention")
        await self._db.webhook_endpoints.create_index([("created_at", ASCENDING)], name="created")

    # --- writing with the change --------------------------------------------------------------

    @translate_errors
    async def with_change(
        self,
        change: Callable[[AsyncClientSession | None], Awaitable[T]],
        deliveries: Callable[[T], Sequence[Delivery]],
        *,
        any_deliveries: bool,
    ) -> T:
        """Run `change` and insert the deliveries it reports in one transaction.

        With `any_deliveries` False (no endpoint listens) the change runs alone, at no extra cost.
        `deliveries` sees the change's result, so a change that did nothing reports nothing.
        """
        if not any_deliveries:
            return await change(None)

        async def work(session: AsyncClientSession) -> T:
            result = await change(session)
            docs = [delivery_to_doc(d) for d in deliveries(result)]
            if docs:
                await self._col.insert_many(docs, ordered=False, session=session)
            return result

        async with self._client.start_session() as session:
            result: T = await session.with_transaction(work, write_concern=DURABLE)
            return result

    @translate_errors
    async def insert(self, deliveries: Sequence[Delivery]) -> None:
        """Deliveries that report no database change of their own (test events, redeliveries)."""
        if deliveries:
            await self._col.insert_many([delivery_to_doc(d) for d in deliveries], ordered=False)

    # --- the worker -----------------------------------------------------------------------------

    @translate_errors
    async def due(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        """(delivery id, endpoint id) of pending deliveries due now, oldest first."""
        cursor = (
            self._col.find({"status": "pending", "next_attempt_at": {"$lte": now}}, {"endpoint_id": 1})
            .sort([("next_attempt_at", ASCENDING)])
            .limit(limit)
        )
        return [(doc["_id"], doc["endpoint_id"]) async for doc in cursor]

    @translate_errors
    async def claim(self, delivery_ids: Sequence[str], now: datetime, lease: str, until: datetime) -> list[Delivery]:
        """Take the still-due ones of `delivery_ids` under `lease` until `until`; returns those won.

        Three operations per batch whatever its size; two workers racing for one delivery cannot
        both win, since the update re-checks that it is due.
        """
        if not delivery_ids:
            return []
        await self._col.update_many(
            {"_id": {"$in": list(delivery_ids)}, "status": "pending", "next_attempt_at": {"$lte": now}},
            {"$set": {"lease": lease, "next_attempt_at": until}},
        )
        cursor = self._col.find({"_id": {"$in": list(delivery_ids)}, "lease": lease})
        return [_delivery_from_doc(doc) async for doc in cursor]

    @translate_errors
    async def record_delivered(
        self,
        delivery_ids: Sequence[str],
        lease: str,
        attempts: int,
        status_code: int,
        at: datetime,
        expires_at: datetime,
    ) -> int:
        """Mark successes of one batch done with one update (per-document updates cost ~10x on SecantusDB)."""
        if not delivery_ids:
            return 0
        result = await self._col.update_many(
            {"_id": {"$in": list(delivery_ids)}, "lease": lease},
            {
                "$set": {
                    "status": "delivered",
                    "attempts": attempts,
                    "last_attempt_at": at,
                    "next_attempt_at": at,
                    "delivered_at": at,
                    "last_status_code": status_code,
                    "last_error": None,
                    "expires_at": expires_at,
                    "lease": None,
                }
            },
        )
        return result.modified_count

    @translate_errors
    async def record(self, results: Sequence[AttemptResult]) -> int:
        """Write attempts back; a result whose lease was taken over meanwhile is dropped."""
        if not results:
            return 0
        ops = [
            UpdateOne(
                {"_id": r.delivery_id, "lease": r.lease},
                {
                    "$set": {
                        "status": r.status,
                        "attempts": r.attempts,
                        "last_attempt_at": r.at,
                        "next_attempt_at": r.next_attempt_at or r.at,
                        "last_status_code": r.status_code,
                        "last_error": r.error,
                        "expires_at": r.expires_at,
                        "lease": None,
                        **({"delivered_at": r.at} if r.status == "delivered" else {}),
                    }
                },
            )
            for r in results
        ]
        result = await self._col.bulk_write(ops, ordered=False)
        return result.modified_count

    @translate_errors
    async def get(self, delivery_id: str) -> Delivery | None:
        doc = await self._col.find_one({"_id": delivery_id})
        return None if doc is None else _delivery_from_doc(doc)

    @translate_errors
    async def for_endpoint(self, endpoint_id: str, limit: int) -> list[Delivery]:
        cursor = self._col.find({"endpoint_id": endpoint_id}).sort([("created_at", DESCENDING)]).limit(limit)
        return [_delivery_from_doc(doc) async for doc in cursor]

    @translate_errors
    async def redeliver(self, delivery_id: str, endpoint_id: str, now: datetime, expires_at: datetime) -> bool:
        """Queue a finished delivery again, same id (receivers deduplicate by it)."""
        result = await self._col.update_one(
            {"_id": delivery_id, "endpoint_id": endpoint_id, "status": {"$in": ["delivered", "failed"]}},
            {
                "$set": {
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "lease": None,
                    "expires_at": expires_at,
                }
            },
        )
        return result.modified_count == 1

    @translate_errors
    async def forget_conversations(self, conversation_ids: Sequence[str]) -> int:
        """Erasure: every delivery about these conversations goes, whatever its state."""
        result = await self._col.delete_many({"conversation_id": {"$in": list(conversation_ids)}})
        return result.deleted_count

    @translate_errors
    async def delete_for_endpoint(self, endpoint_id: str) -> None:
        await self._col.delete_many({"endpoint_id": endpoint_id})

    @translate_errors
    async def fail_pending(self, endpoint_id: str, now: datetime, reason: str, expires_at: datetime) -> int:
        """An endpoint that is gone or disabled: its pending deliveries end as failed (redeliverable)."""
        result = await self._col.update_many(
            {"endpoint_id": endpoint_id, "status": "pending"},
            {
                "$set": {
                    "status": "failed",
                    "last_error": reason,
                    "lease": None,
                    "expires_at": expires_at,
                    "next_attempt_at": now,
                }
            },
        )
        return result.modified_count


class EndpointStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]):
        self._col = db.webhook_endpoints

    @translate_errors
    async def insert(self, endpoint: Endpoint) -> None:
        await self._col.insert_one(_endpoint_to_doc(endpoint))

    @translate_errors
    async def all(self) -> list[Endpoint]:
        return [_endpoint_from_doc(doc) async for doc in self._col.find({}).sort([("created_at", ASCENDING)])]

    @translate_errors
    async def get(self, endpoint_id: str) -> Endpoint | None:
        doc = await self._col.find_one({"_id": endpoint_id})
        return None if doc is None else _endpoint_from_doc(doc)

    @translate_errors
    async def update(self, endpoint_id: str, changes: dict[str, Any]) -> Endpoint | None:
        doc = await self._col.find_one_and_update(
            {"_id": endpoint_id}, {"$set": changes}, return_document=ReturnDocument.AFTER
        )
        return None if doc is None else _endpoint_from_doc(doc)

    @translate_errors
    async def set_secrets(self, endpoint_id: str, secrets: Sequence[EndpointSecret], at: datetime) -> Endpoint | None:
        return await self.update(endpoint_id, {"secrets": [_secret_to_doc(s) for s in secrets], "updated_at": at})

    @translate_errors
    async def disable(self, endpoint_id: str, reason: str, at: datetime) -> None:
        await self._col.update_one(
            {"_id": endpoint_id}, {"$set": {"enabled": False, "disabled_reason": reason, "updated_at": at}}
        )

    @translate_errors
    async def delete(self, endpoint_id: str) -> bool:
        result = await self._col.delete_one({"_id": endpoint_id})
        return result.deleted_count == 1
