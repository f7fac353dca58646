"""Plan, run and report the retention policies.

One run at a time per database (a lease in MongoDB, renewed every batch). Work is streamed in
batches of `batch_size` conversations; each batch is one transaction and every write is guarded,
so a run killed at any point and started again finishes the job without doing anything twice.
"""

from __future__ import annotations

import secrets
import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chat_service.audit import AuditLog
from chat_service.conversations import utcnow
from chat_service.crypto import DataKey, HmacKeys, KeyRingSource, WrappedKey
from chat_service.errors import ChatError, DecryptionFailed
from chat_service.logging import get_logger
from chat_service.models import Conversation
from chat_service.storage import Database
from chat_service.storage.retention import Checkpoint, ConversationSelector, RunRecord
from retention.epochs import advance_key_epochs
from retention.policies import Policy, PolicySet
from retention.pseudonymise import pseudonymise_conversation

log = get_logger("retention")
LEASE = "retention"
ACTOR = "retention-job"


class LeaseLost(Exception):
    """Another run took the lease (this one was silent for longer than the lease)."""


def _no_checkpoint(_: str) -> None:
    return None


def selector_for(policies: PolicySet, policy: Policy, now: datetime) -> ConversationSelector:
    """What `policy` acts on at `now`, minus what earlier deletions in the same run remove."""

    def own(p: Policy) -> ConversationSelector:
        pending = (p.name, p.version) if p.action == "pseudonymise" else None
        return ConversationSelector(before=p.cutoff(now), offline=p.offline, pending_policy=pending)

    base = own(policy)
    exclude = tuple(own(p) for p in policies.earlier_deletions(policy))
    return ConversationSelector(base.before, base.offline, base.pending_policy, exclude)


@dataclass(frozen=True)
class PlanLine:
    policy: Policy
    cutoff: datetime
    count: int


async def plan(db: Database, policies: PolicySet, now: datetime) -> list[PlanLine]:
    """What a run at `now` would act on, per policy. Reads only."""
    lines = []
    for policy in policies.policies:
        if policy.target == "audit_events":
            count = await db.retention.count_audit_before(policy.cutoff(now))
        else:
            count = await db.retention.count_conversations(selector_for(policies, policy, now))
        lines.append(PlanLine(policy, policy.cutoff(now), count))
    return lines


@dataclass
class RetentionJob:
    db: Database
    keys: KeyRingSource
    hmac_keys: HmacKeys
    batch_size: int
    lease_seconds: int
    wall_clock: Callable[[], datetime] = utcnow
    checkpoint: Checkpoint = _no_checkpoint
    # Master-key epochs (see retention/epochs.py); None leaves the key ring alone.
    key_rotation: timedelta | None = None
    shredding_window: timedelta = timedelta(days=30)

    async def run(self, policies: PolicySet, now: datetime) -> RunRecord:
        """Apply every policy at `now` (the policy clock; the lease uses the wall clock)."""
        run = RunRecord(
            id="r" + secrets.token_hex(8), started_at=self.wall_clock(), clock=now, host=socket.gethostname()
        )
        async with self.db.retention.run_session() as session_id:
            return await self._run(run, policies, now, session_id)

    async def _run(self, run: RunRecord, policies: PolicySet, now: datetime, session_id: dict[str, Any]) -> RunRecord:
        if not await self._take_lease(run.id, session_id):
            holder = await self.db.retention.lease_holder(LEASE)
            log.info("retention_run_skipped", reason="lease_held", holder=holder[0] if holder else None)
            run.status, run.finished_at = "skipped", self.wall_clock()
            await self.db.retention.save_run(run)
            return run
        await self.db.retention.save_run(run)
        log.info("retention_run_started", run_id=run.id, clock=now.isoformat(), policies=len(policies.policies))
        try:
            for policy in policies.policies:
                await self._apply(run, policies, policy, now)
            if self.key_rotation is not None:
                await self._renew_lease(run.id)
                epochs = await advance_key_epochs(
                    self.db, self.keys, now, period=self.key_rotation, window=self.shredding_window
                )
                run.keys = epochs.to_dict()
                if epochs.still_in_use:
                    run.failures.extend(
                        {"policy": "key-epochs", "conversation_id": "", "reason": f"master key {k} not destroyed"}
                        for k in epochs.still_in_use
                    )
                if epochs.skipped and self.keys.path is not None:
                    run.failures.append({"policy": "key-epochs", "conversation_id": "", "reason": epochs.skipped})
            run.status = "failed_items" if run.failures else "done"
        except LeaseLost:
            run.status = "lease_lost"
            log.error("retention_lease_lost", run_id=run.id)
        finally:
            run.finished_at = self.wall_clock()
            await self.db.retention.save_run(run)
            if run.status != "lease_lost":
                await self.db.retention.release_lease(LEASE, run.id)
        await AuditLog(self.db, self.hmac_keys).record(
            ACTOR,
            "retention.run",
            target_type="retention_run",
            target_id=run.id,
            details={"status": run.status, "failed": len(run.failures), **_totals(run)},
        )
        log.info("retention_run_finished", run_id=run.id, status=run.status, failed=len(run.failures), **_totals(run))
        return run

    # --- lease ---------------------------------------------------------------------------------

    async def _take_lease(self, holder: str, session_id: dict[str, Any]) -> bool:
        now = self.wall_clock()
        expires = now + timedelta(seconds=self.lease_seconds)
        return await self.db.retention.acquire_lease(LEASE, holder, now, expires, session_id)

    async def _renew_lease(self, holder: str) -> None:
        now = self.wall_clock()
        if not await self.db.retention.renew_lease(LEASE, holder, now, now + timedelta(seconds=self.lease_seconds)):
            raise LeaseLost()

    # --- policies ------------------------------------------------------------------------------

    async def _apply(self, run: RunRecord, policies: PolicySet, policy: Policy, now: datetime) -> None:
        stats: dict[str, int | str] = {"action": policy.action, "version": policy.version, "selected": 0, "done": 0}
        run.policies[policy.name] = stats
        if policy.target == "audit_events":
            await self._renew_lease(run.id)
            deleted = await AuditLog(self.db, self.hmac_keys).trim_before(policy.cutoff(now))
            stats["selected"] = stats["done"] = deleted
            log.info("retention_batch", run_id=run.id, policy=policy.label, done=deleted)
            return
        selector = selector_for(policies, policy, now)
        async for batch in self.db.retention.stream_conversations(selector, self.batch_size):
            await self._renew_lease(run.id)
            stats["selected"] = int(stats["selected"]) + len(batch)
            try:
                if policy.action == "delete":
                    done = await self.db.retention.delete_conversations(
                        [c.id for c in batch], self.checkpoint, inactive_before=selector.before
                    )
                    redactions: Counter[str] = Counter()
                else:
                    done, redactions = await self._pseudonymise(run, policy, selector, batch, now)
            except ChatError as exc:
                run.failures.extend({"policy": policy.name, "conversation_id": c.id, "reason": exc.code} for c in batch)
                log.error("retention_batch_failed", run_id=run.id, policy=policy.label, reason=exc.code)
                continue
            stats["done"] = int(stats["done"]) + done
            for kind, n in redactions.items():
                stats[f"redacted_{kind}"] = int(stats.get(f"redacted_{kind}", 0)) + n
            await self.db.retention.save_run(run)
            log.info("retention_batch", run_id=run.id, policy=policy.label, selected=len(batch), done=done)

    async def _pseudonymise(
        self, run: RunRecord, policy: Policy, selector: ConversationSelector, batch: list[Conversation], now: datetime
    ) -> tuple[int, Counter[str]]:
        ids = [c.id for c in batch]
        wrapped = await self.db.retention.wrapped_keys(ids)
        messages = await self.db.retention.messages_of(ids)
        by_conversation: dict[str, list[int]] = {}
        for index, message in enumerate(messages):
            by_conversation.setdefault(message.conversation_id, []).append(index)
        changes, redactions = [], Counter[str]()
        ring = self.keys.current()
        for conv in batch:
            if any(messages[i].created_at >= selector.before for i in by_conversation.get(conv.id, [])):
                continue  # active since (its activity clock is folded in behind its messages)
            key = self._unwrap(run, policy, conv.id, wrapped)
            if key is None:
                continue
            result = pseudonymise_conversation(
                conv,
                key,
                ring.new_data_key(conv.id),
                [messages[i] for i in by_conversation.get(conv.id, [])],
                self.hmac_keys,
            )
            changes.append(result.change)
            redactions.update(result.redactions)
        done = await self.db.retention.pseudonymise(
            changes,
            selector=selector,
            policy=policy.name,
            version=policy.version,
            at=now,
            run_id=run.id,
            checkpoint=self.checkpoint,
        )
        return len(done), redactions

    def _unwrap(
        self, run: RunRecord, policy: Policy, conversation_id: str, wrapped: dict[str, WrappedKey]
    ) -> DataKey | None:
        blob = wrapped.get(conversation_id)
        reason = "no_data_key"
        if blob is not None:
            try:
                return self.keys.current().unwrap(conversation_id, blob)
            except DecryptionFailed as exc:
                reason = exc.code
        run.failures.append({"policy": policy.name, "conversation_id": conversation_id, "reason": reason})
        log.error(
            "retention_item_failed", run_id=run.id, policy=policy.label, conversation_id=conversation_id, reason=reason
        )
        return None


def _totals(run: RunRecord) -> dict[str, int]:
    return {f"{name}.done": int(stats.get("done", 0)) for name, stats in run.policies.items()}
