"""Who opened, exported or erased what, and which admin changed which user: an HMAC chain.

Each event's MAC covers its own fields and the previous event's MAC, keyed with the `audit` HMAC
key kept apart from the database. Editing, deleting or inserting an event breaks the chain at that
point; someone with write access to the database but not the key cannot repair it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chat_service.conversations import iso, utcnow
from chat_service.crypto import HmacKeys
from chat_service.errors import StorageUnavailable
from chat_service.models import AuditEvent
from chat_service.storage import Database

GENESIS = "0" * 64
APPEND_ATTEMPTS = 50


def _canonical(event: AuditEvent) -> bytes:
    return json.dumps(
        [
            event.seq,
            iso(event.at),
            event.actor_id,
            event.action,
            event.target_type,
            event.target_id,
            event.details,
            event.prev_mac,
        ],
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


@dataclass(frozen=True)
class ChainReport:
    checked: int
    problems: tuple[str, ...]

    @property
    def intact(self) -> bool:
        return not self.problems


class AuditLog:
    def __init__(self, db: Database, keys: HmacKeys, *, clock: Callable[[], datetime] = utcnow):
        self._db = db
        self._keys = keys
        self._clock = clock

    def _mac(self, event: AuditEvent) -> str:
        return self._keys.mac("audit", _canonical(event))

    async def record(
        self,
        actor_id: str,
        action: str,
        *,
        target_type: str | None = None,
        target_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEvent:
        """Append one event. Concurrent writers race for the next number; the loser retries."""
        for _ in range(APPEND_ATTEMPTS):
            last = await self._db.audit.last()
            event = AuditEvent(
                seq=1 if last is None else last.seq + 1,
                at=self._clock(),
                actor_id=actor_id,
                action=action,
                target_type=target_type,
                target_id=target_id,
                details=dict(details or {}),
                prev_mac=GENESIS if last is None else last.mac,
                mac="",
            )
            event.mac = self._mac(event)
            if await self._db.audit.insert(event):
                return event
        raise StorageUnavailable("The audit log is too busy; please retry.")

    async def verify(self) -> ChainReport:
        problems: list[str] = []
        expected_seq, prev_mac, checked = 1, GENESIS, 0
        async for event in self._db.audit.stream():
            checked += 1
            if event.seq != expected_seq:
                problems.append(f"event {expected_seq} is missing (next stored is {event.seq})")
            if event.prev_mac != prev_mac:
                problems.append(f"event {event.seq} does not follow the event before it")
            if event.mac != self._mac(event):
                problems.append(f"event {event.seq} was altered")
            expected_seq, prev_mac = event.seq + 1, event.mac
        return ChainReport(checked, tuple(problems))
