"""Conversations' bookkeeping, folded in behind the messages instead of written with each one.

A stored message changes its conversation's count, activity clock, last message and (for an
agent's first answer) first response time. Writing that with every batch costs one update per
conversation, and on SecantusDB an update costs several inserts: it was most of the database's
work per message. The messages are the record; these fields summarise them, so the writer keeps
what its batches changed here, merged per conversation, and folds it into `conversations` when
it is quiet or the oldest change has waited `interval` (one `bulk_write` per chunk).

Readers in this process see the folded values at once (`overlay`); other nodes see them within
`interval`. A process that dies before folding leaves its last changes to `BatchStore.repair`,
which the next start of any node runs over the recent messages.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import replace

from chat_service.models import Conversation
from chat_service.storage.batches import Activity
from chat_service.storage.reports import RollupChange


def merge(a: Activity, b: Activity) -> Activity:
    """Two changes to one conversation as one: counts add up, the newest message wins."""
    newer = b if (b.last_at, b.last_message_id) >= (a.last_at, a.last_message_id) else a
    firsts = [t for t in (a.first_agent_at, b.first_agent_at) if t is not None]
    return Activity(
        a.conversation_id,
        a.count + b.count,
        newer.last_message_id,
        newer.last_at,
        None,  # a reopen is written with its batch, never deferred
        min(firsts) if firsts else None,
    )


class Bookkeeping:
    """Changes not yet folded in, merged per conversation, oldest first."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._pending: dict[str, Activity] = {}
        self._inflight: dict[str, Activity] = {}
        # Report roll-up increments (a conversation started): best effort, as reports always were.
        self._rollups: list[RollupChange] = []
        self._since: float | None = None  # when the oldest pending change arrived

    def __len__(self) -> int:
        return len(self._pending) + len(self._rollups)

    def add_rollups(self, changes: Iterable[RollupChange], now: float) -> None:
        self._rollups.extend(changes)
        if self._rollups and self._since is None:
            self._since = now

    def take_rollups(self) -> list[RollupChange]:
        taken, self._rollups = self._rollups, []
        if not self._pending:
            self._since = None
        return taken

    def add(self, activities: Iterable[Activity], now: float) -> None:
        for activity in activities:
            earlier = self._pending.get(activity.conversation_id)
            self._pending[activity.conversation_id] = activity if earlier is None else merge(earlier, activity)
        if self._pending and self._since is None:
            self._since = now

    def overdue(self, now: float) -> bool:
        return self._since is not None and now - self._since >= self.interval_s

    def take(self, limit: int, only: Collection[str] | None = None) -> list[Activity]:
        """Up to `limit` changes, oldest first (of `only` these conversations, if given); they
        stay visible to `overlay` until `settled`."""
        ids = list(self._pending)[:limit] if only is None else [i for i in only if i in self._pending][:limit]
        taken = [self._pending.pop(i) for i in ids]
        for activity in taken:
            self._inflight[activity.conversation_id] = activity
        if not self._pending and not self._rollups:
            self._since = None
        return taken

    def in_flight(self, ids: Collection[str] | None = None) -> bool:
        """Whether a fold now being written holds any of these conversations (None: any)."""
        return bool(self._inflight) if ids is None else any(i in self._inflight for i in ids)

    def settled(self, taken: list[Activity], *, written: bool, now: float) -> None:
        """After a fold: forget what was written, or keep it for the next fold if it failed."""
        for activity in taken:
            self._inflight.pop(activity.conversation_id, None)
        if not written:
            pending, self._pending = self._pending, {}
            self.add(taken, now)
            self.add(pending.values(), now)

    def overlay(self, conv: Conversation) -> Conversation:
        """The conversation as it is once this process's changes are folded in."""
        for source in (self._inflight, self._pending):
            activity = source.get(conv.id)
            if activity is None:
                continue
            firsts = [t for t in (conv.first_response_at, activity.first_agent_at) if t is not None]
            conv = replace(
                conv,
                message_count=conv.message_count + activity.count,
                last_activity_at=max(conv.last_activity_at, activity.last_at),
                last_message_id=activity.last_message_id,  # stored after what this process folded
                first_response_at=min(firsts) if firsts else None,
            )
        return conv
