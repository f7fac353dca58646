"""Master-key epochs: the step of `chat-retention run` that makes crypto-shredding reach copies.

Destroying a data key removes it from the live database only: the oplog, the storage engine's
journal and every backup still hold it, wrapped under the master key of its time. So master keys
rotate (a new one every `period`, every live data key re-wrapped under it) and a key retired at
least `window` ago (the longest of oplog window and backup retention) is destroyed from the key
ring. A data key destroyed at time t is then unreadable everywhere by t + period + window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chat_service.crypto import KeyRingError, KeyRingSource, WrappedKey
from chat_service.errors import DecryptionFailed
from chat_service.logging import get_logger
from chat_service.storage import Database

log = get_logger("retention.epochs")
REWRAP_BATCH = 500


@dataclass
class EpochReport:
    rotated_to: str | None = None
    rewrapped: int = 0
    destroyed: list[str] = field(default_factory=list)
    # expired master keys not destroyed: they still wrap live data keys (a server wrapped under an
    # old key late) or the ring file could not be written; the run reports them as failures
    still_in_use: dict[str, int] = field(default_factory=dict)
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rotated_to": self.rotated_to,
            "rewrapped": self.rewrapped,
            "destroyed": self.destroyed,
            "still_in_use": self.still_in_use,
            "skipped": self.skipped,
        }


async def advance_key_epochs(
    db: Database, keys: KeyRingSource, now: datetime, *, period: timedelta, window: timedelta
) -> EpochReport:
    """Rotate the master key if it is due, re-wrap what is not under the active key, destroy expired keys."""
    report = EpochReport()
    if keys.path is None:
        report.skipped = "master keys come from CHAT_MASTER_KEYS; rotate them by hand (see README)"
        log.warning("master_key_rotation_skipped", reason="keys_from_environment")
        return report
    ring = keys.current()
    if ring.rotation_due(now, period):
        ring = ring.with_new_key(now)
        try:
            keys.replace(ring)
        except (OSError, KeyRingError) as exc:
            # A read-only secret mount, say: the policies ran; the keys wait for a writable ring.
            report.skipped = f"cannot write the key ring file: {type(exc).__name__}: {exc}"
            log.error("master_key_rotation_failed", reason=type(exc).__name__)
            return report
        report.rotated_to = ring.active_id
        log.info("master_key_rotated", active=ring.active_id)
    report.rewrapped = await _rewrap(db, keys)
    ring = keys.current()
    expired = ring.expired(now, window)
    if expired:
        in_use = await db.data_keys.count_by_master_key()
        report.still_in_use = {k: in_use[k] for k in expired if in_use.get(k)}
        report.destroyed = [k for k in expired if not in_use.get(k)]
        if report.destroyed:
            try:
                keys.replace(ring.without(report.destroyed))
            except (OSError, KeyRingError) as exc:
                report.skipped = f"cannot write the key ring file: {type(exc).__name__}: {exc}"
                report.still_in_use = {k: 0 for k in report.destroyed}
                report.destroyed = []
                log.error("master_key_destruction_failed", reason=type(exc).__name__)
                return report
            log.info("master_keys_destroyed", ids=report.destroyed)
        if report.still_in_use:
            log.error("master_keys_expired_but_in_use", counts=report.still_in_use)
    return report


async def _rewrap(db: Database, keys: KeyRingSource) -> int:
    ring = keys.current()
    count = 0
    batch: list[tuple[str, WrappedKey, WrappedKey]] = []
    async for owner_id, wrapped in db.data_keys.not_under(ring.active_id):
        try:
            batch.append((owner_id, wrapped, ring.rewrap(owner_id, wrapped)))
        except DecryptionFailed:
            # Its master key is gone or it does not authenticate: nothing can read it anyway.
            log.error("data_key_unreadable", owner_id=owner_id, master_key_id=wrapped.master_key_id)
            continue
        if len(batch) >= REWRAP_BATCH:
            count += await db.data_keys.replace_many(batch)
            batch = []
    count += await db.data_keys.replace_many(batch)
    return count
