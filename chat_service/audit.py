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
# The actor of events done from the command line (`chat-service users create`, `privacy ...`).
CLI_ACTOR = "cli"
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
            seq, prev_mac = await self._chain_end()
            event = AuditEvent(
                seq=seq + 1,
                at=self._clock(),
                actor_id=actor_id,
                action=action,
                target_type=target_type,
                target_id=target_id,
                details=dict(details or {}),
                prev_mac=prev_mac,
                mac="",
            )
            event.mac = self._mac(event)
            if await self._db.audit.insert(event):
                return event
        raise StorageUnavailable("The audit log is too busy; please retry.")

    async def _chain_end(self) -> tuple[int, str]:
        """Number and MAC of the newest event (or of the last one retention deleted)."""
        last = await self._db.audit.last()
        if last is not None:
            return last.seq, last.mac
        marker = await self._db.audit.trim_marker()
        if marker is not None:
            return int(marker["seq"]), str(marker["mac"])
        return 0, GENESIS

    def _trim_seal(self, seq: int, mac: str) -> str:
        return self._keys.mac("audit", f"trim/{seq}/{mac}".encode())

    async def trim_before(self, before: datetime) -> int:
        """Delete events older than `before` (retention); the chain stays verifiable.

        A marker sealed with the audit key records the last deleted event, so `verify` starts
        after it; without the key nobody can move the marker to hide deleted recent events.
        The marker is written first: a run killed in between deletes the rest next time.
        """
        last = await self._db.audit.last_before(before)
        if last is None:
            return 0
        marker = await self._db.audit.trim_marker()
        if marker is None or int(marker["seq"]) < last.seq:
            await self._db.audit.save_trim_marker(last.seq, last.mac, self._trim_seal(last.seq, last.mac))
        return await self._db.audit.delete_through(last.seq)

    async def verify(self) -> ChainReport:
        problems: list[str] = []
        expected_seq, prev_mac, checked = 1, GENESIS, 0
        marker = await self._db.audit.trim_marker()
        if marker is not None:
            seq, mac = int(marker["seq"]), str(marker["mac"])
            if marker.get("seal") != self._trim_seal(seq, mac):
                problems.append("the trim marker (start of the chain after retention) was altered")
            expected_seq, prev_mac = seq + 1, mac
        async for event in self._db.audit.stream(after_seq=expected_seq - 1):
            checked += 1
            if event.seq != expected_seq:
                problems.append(f"event {expected_seq} is missing (next stored is {event.seq})")
            if event.prev_mac != prev_mac:
                problems.append(f"event {event.seq} does not follow the event before it")
            if event.mac != self._mac(event):
                problems.append(f"event {event.seq} was altered")
            expected_seq, prev_mac = event.seq + 1, event.mac
        return ChainReport(checked, tuple(problems))
