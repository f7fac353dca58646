"""Group commit: one writer per process stores what is queued as one batch.

Natural batching (as PostgreSQL's WAL writer and the LMAX Disruptor do it): when idle the writer
flushes a message at once; while a flush runs, new messages queue, and the next flush takes all
of them (up to `max_batch`). SecantusDB serialises requests and slows down as concurrency grows,
so one `insert_many` plus one `bulk_write` per batch beats one write per message by far.

Every caller awaits its own outcome, in two steps: `stored` once the batch's `insert_many` is
journaled (the message may be announced), `done` once the batch is settled with its
conversations (erased ones found, closed ones reopened: the message may be acknowledged). The
conversations' counters and clocks are folded in behind (`bookkeeping.py`), when the writer is
quiet or they have waited `bookkeeping_interval_s`. When the oldest message not yet written (queued, or in the batch
being flushed) has waited longer than `max_wait`, new messages are refused at once with a
`retry_after`, so an overload queues no more than that.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from chat_service.errors import NotFound, Overloaded, StorageUnavailable
from chat_service.logging import get_logger
from chat_service.models import Conversation, Message
from chat_service.pipeline.bookkeeping import Bookkeeping
from chat_service.storage import Database
from chat_service.storage.batches import Activity, Inserted
from chat_service.storage.outbox import Delivery, delivery_to_doc
from chat_service.storage.reports import RollupChange

if TYPE_CHECKING:  # metrics.py imports the services, which import the pipeline
    from chat_service.metrics import Metrics

log = get_logger(__name__)
MAX_RETRY_AFTER_S = 30
STOP_GRACE_S = 5.0
# The writer folds bookkeeping in once no message has come for this long...
QUIET_S = 0.1
# ...or, under load, this many conversations after each batch of messages, so a fold never
# holds messages back for long (SecantusDB runs one request at a time: 8 updates are ~20 ms).
FOLD_CHUNK = 8
# After a fold failed (the database is away), the next try waits this long.
FOLD_RETRY_S = 1.0


@dataclass(frozen=True)
class Stored:
    message: Message  # the earlier copy when this was a resend
    is_new: bool


@dataclass(eq=False)
class Pending:
    """One message on its way to disk; the caller awaits `stored`, then `done`."""

    message: Message
    reopen: bool  # a visitor message: reopens its conversation if closed
    counted: bool  # False for a first message, already counted in the conversation it created
    queued_at: float
    # Outgoing deliveries (webhooks, e-mail) reporting this message: written in the same
    # transaction as the message, and only if the message is new (transactional outbox).
    deliveries: Sequence[Delivery] = ()
    stored: asyncio.Future[Stored] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    # The conversation if this message reopened it, else None.
    done: asyncio.Future[Conversation | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.message.conversation_id, self.message.sender, self.message.client_id)

    def fail(self, exc: BaseException) -> None:
        """Fail whichever step is still open; `done` is only awaited once `stored` succeeded."""
        if not self.stored.done():
            self.stored.set_exception(exc)
        elif self.stored.exception() is None and not self.done.done():
            self.done.set_exception(exc)


class WritePipeline:
    def __init__(
        self,
        db: Database,
        *,
        max_batch: int = 256,
        max_wait_s: float = 2.0,
        bookkeeping_interval_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
    ):
        self._db = db
        self._bookkeeping = Bookkeeping(bookkeeping_interval_s)
        self._fold_after = 0.0  # no fold before this time (after a failed one)
        self._folded = asyncio.Event()  # set (and replaced) whenever a fold has settled
        self._metrics = metrics
        self._max_batch = max_batch
        self._max_wait = max_wait_s
        self._clock = clock
        self._queue: deque[Pending] = deque()
        self._wakeup = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False
        self._callers = 0
        self._flushing_since: float | None = None  # queued_at of the oldest message being written
        self._flushing = 0  # messages in the batch being written
        self._pace = 0.0  # messages written per second, smoothed over recent flushes
        self._flush_started = 0.0
        self._idle = asyncio.Event()
        self._idle.set()
        self._on_deliveries: Callable[[], None] = lambda: None
        # Figures for logs and benchmarks.
        self.batches = 0
        self.largest_batch = 0
        self.refused = 0

    # --- life cycle ----------------------------------------------------------------------------

    def on_deliveries(self, wake: Callable[[], None]) -> None:
        """Called after a batch that wrote outbox deliveries committed (the worker sends at once)."""
        self._on_deliveries = wake

    def start(self) -> None:
        if self._writer is None:
            self._closing = False
            self._writer = asyncio.create_task(self._run(), name="write-pipeline")

    async def stop(self) -> None:
        """Refuse new messages, flush everything queued, and wait until its callers are answered."""
        if self._closing and self._writer is None:
            return
        self._closing = True
        self._wakeup.set()
        if self._writer is not None:
            await self._writer
            self._writer = None
        # Callers resume on their own: give them a bounded moment to send their answers.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_GRACE_S):
                await self._idle.wait()
        log.info("write_pipeline_stopped", batches=self.batches, largest_batch=self.largest_batch, refused=self.refused)

    # --- callers -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def caller(self) -> Iterator[None]:
        """Bracket a caller's await of its outcome, so `stop` waits until it has its answer."""
        self._callers += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._callers -= 1
            if self._callers == 0:
                self._idle.set()

    def admit(self) -> None:
        """Raise `Overloaded` now if a new message would be refused (before writing anything else)."""
        if self._closing:
            raise Overloaded(1)
        now = self._clock()
        # The oldest message not yet written: in the batch being flushed, else first in line. A
        # slow flush counts too, or callers would pile up behind it unbounded.
        oldest = self._flushing_since
        if self._queue and (oldest is None or self._queue[0].queued_at < oldest):
            oldest = self._queue[0].queued_at
        waited = 0.0 if oldest is None else now - oldest
        # A queue that grew faster than the writer drains it would hold a newcomer longer than
        # the limit even while its oldest entry is young: estimate that wait from the pace of
        # recent flushes.
        ahead = len(self._queue) + self._flushing
        pace = self._pace
        if self._flushing >= self._max_batch and now > self._flush_started:
            # A full batch still being written bounds the pace now (a flood from idle).
            live = self._flushing / (now - self._flush_started)
            pace = min(pace, live) if pace else live
        expected = ahead / pace if pace else 0.0
        if waited > self._max_wait or expected > self._max_wait:
            self.refused += 1
            raise Overloaded(max(1, min(MAX_RETRY_AFTER_S, math.ceil(max(waited, expected)))))

    def submit(
        self,
        message: Message,
        *,
        reopen: bool,
        counted: bool = True,
        admitted: bool = False,
        deliveries: Sequence[Delivery] = (),
    ) -> Pending:
        """Queue a message; raises `Overloaded` at once when the queue is full in time or stopping.

        `admitted`: the caller already passed `admit` and wrote something this message must
        follow (a new conversation's first message): it is queued whatever the load.
        """
        if not admitted:
            self.admit()
        pending = Pending(message, reopen, counted, self._clock(), deliveries)
        self._queue.append(pending)
        if self._writer is None:
            # No writer running (a CLI or a test without a server): write this one now.
            self._writer = asyncio.create_task(self._run_once(), name="write-pipeline-once")
        self._wakeup.set()
        return pending

    # --- the writer ----------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            if self._queue:
                await self._flush(self._take())
                if self._bookkeeping.overdue(self._clock()):
                    await self._fold(FOLD_CHUNK)
                continue
            if self._closing:
                await self._fold_all()
                return
            self._wakeup.clear()
            if not self._bookkeeping:
                await self._wakeup.wait()
                continue
            wait = max(QUIET_S, self._fold_after - self._clock())
            try:
                async with asyncio.timeout(wait):
                    await self._wakeup.wait()
            except TimeoutError:
                # Quiet: fold a chunk at a time until done or a message comes.
                while self._bookkeeping and not self._queue and await self._fold(FOLD_CHUNK):
                    pass

    async def _run_once(self) -> None:
        # No writer to fold later: fold before leaving. The queue is checked again after every
        # await, so a message submitted meanwhile (no new task starts while this one runs) is
        # never left behind.
        try:
            while True:
                if self._queue:
                    await self._flush(self._take())
                elif not (self._bookkeeping and await self._fold(FOLD_CHUNK * 8)) and not self._queue:
                    return
        finally:
            self._writer = None

    # --- bookkeeping ---------------------------------------------------------------------------

    def overlay(self, conv: Conversation) -> Conversation:
        """`conv` with what this process stored for it and has not folded in yet."""
        return self._bookkeeping.overlay(conv)

    def defer_rollups(self, changes: Sequence[RollupChange]) -> None:
        """Report roll-up increments to write with the next fold (merged per document)."""
        self._bookkeeping.add_rollups(changes, self._clock())
        self._wakeup.set()

    async def _fold(self, limit: int) -> bool:
        """Fold up to `limit` conversations' bookkeeping in; False if the database refused."""
        now = self._clock()
        if now < self._fold_after:
            return False
        await self._write_rollups()
        return await self._fold_taken(self._bookkeeping.take(limit))

    async def _write_rollups(self) -> None:
        """Best effort: a report one count short beats a refused message (`apply` logs)."""
        await self._db.reports.apply(self._bookkeeping.take_rollups())

    async def _fold_taken(self, taken: list[Activity]) -> bool:
        now = self._clock()
        try:
            await self._db.batches.fold(taken)
        except Exception as exc:  # kept for the next try; the messages themselves are stored
            if isinstance(exc, StorageUnavailable):
                log.warning(
                    "bookkeeping_fold_failed", conversations=len(taken), error=type(exc.__cause__ or exc).__name__
                )
            else:
                log.exception("bookkeeping_fold_failed", conversations=len(taken))
            self._bookkeeping.settled(taken, written=False, now=now)
            self._fold_after = self._clock() + FOLD_RETRY_S
            return False
        else:
            self._bookkeeping.settled(taken, written=True, now=now)
            return True
        finally:
            self._folded.set()
            self._folded = asyncio.Event()

    async def fold_now(self, only: Collection[str] | None = None) -> None:
        """Fold what this process has not folded in yet, of `only` these conversations if given
        (before a read or a change that must see exact values: a close counted in reports, a
        data-subject request); raises `StorageUnavailable` if the database refused."""
        self._fold_after = 0.0
        while self._bookkeeping.in_flight(only):
            await self._folded.wait()  # the writer is folding these right now: wait for it
        if only is None:
            await self._write_rollups()
        while self._bookkeeping:
            taken = self._bookkeeping.take(FOLD_CHUNK * 8, only)
            if not taken:
                return
            if not await self._fold_taken(taken):
                raise StorageUnavailable()

    async def _fold_all(self) -> None:
        """On stopping: what cannot be folded is left for `repair` at the next start."""
        try:
            await self.fold_now()
        except StorageUnavailable:
            log.warning("bookkeeping_not_folded", conversations=len(self._bookkeeping))

    async def recover(self, since_s: float = 3600.0) -> None:
        """Fold in what a process that died left unfolded (the last `since_s` seconds of messages)."""
        try:
            repaired = await self._db.batches.repair(datetime.now(UTC) - timedelta(seconds=since_s))
        except StorageUnavailable:
            log.warning("bookkeeping_repair_failed")
            return
        if repaired:
            log.info("bookkeeping_repaired", conversations=repaired)

    def _take(self) -> list[Pending]:
        batch = [self._queue.popleft() for _ in range(min(self._max_batch, len(self._queue)))]
        self.batches += 1
        self.largest_batch = max(self.largest_batch, len(batch))
        return batch

    async def _flush(self, batch: list[Pending]) -> None:
        self._flushing_since = batch[0].queued_at
        self._flushing = len(batch)
        started = self._flush_started = self._clock()
        try:
            await self._write(batch)
        except StorageUnavailable as exc:
            log.warning("write_batch_failed", messages=len(batch), error=type(exc.__cause__ or exc).__name__)
            for pending in batch:
                pending.fail(StorageUnavailable())
        except Exception:
            log.exception("write_batch_failed", messages=len(batch))
            for pending in batch:
                pending.fail(StorageUnavailable())
        finally:
            self._flushing_since = None
            self._flushing = 0
            elapsed = self._clock() - started
            self._observe(batch, started, elapsed)
            # Only a full batch shows what the writer can do under load (small ones are slower
            # per message: batching is the point), so only full ones set the pace.
            if elapsed > 0 and len(batch) >= self._max_batch:
                pace = len(batch) / elapsed
                self._pace = pace if not self._pace else 0.7 * self._pace + 0.3 * pace

    def _observe(self, batch: list[Pending], started: float, elapsed: float) -> None:
        if self._metrics is not None:
            self._metrics.write_batch_size.observe(len(batch))
            self._metrics.write_queue_age.observe(max(0.0, started - batch[0].queued_at))
            self._metrics.db_write_latency.labels(operation="message_batch").observe(elapsed)

    async def _write(self, batch: list[Pending]) -> None:
        # Copies of one message in one batch (two tabs resending): the first is written, the
        # others answer with it.
        leaders: dict[tuple[str, str, str], Pending] = {}
        followers: list[Pending] = []
        for pending in batch:
            if pending.key in leaders:
                followers.append(pending)
            else:
                leaders[pending.key] = pending
        written = list(leaders.values())
        if any(p.deliveries for p in written):
            await self._write_with_deliveries(written, followers)
            return
        outcomes = await self._db.batches.insert_messages([p.message for p in written])

        new: list[Pending] = []
        duplicates: list[Pending] = []
        for pending, outcome in zip(written, outcomes, strict=True):
            if outcome is Inserted.NEW:
                pending.stored.set_result(Stored(pending.message, True))
                new.append(pending)
            elif outcome is Inserted.DUPLICATE:
                duplicates.append(pending)
            else:
                log.warning("message_write_failed", conversation_id=pending.message.conversation_id)
                pending.fail(StorageUnavailable())

        activity = self._activity(new)
        for pending in duplicates:
            await self._answer_with_earlier(pending)
        for pending in followers:
            self._follow(pending, leaders[pending.key])

        reopened, missing, later = await self._db.batches.settle(activity)
        self._bookkeeping.add(later, self._clock())
        await self._finish(new, activity, reopened, missing)

    async def _write_with_deliveries(self, written: list[Pending], followers: list[Pending]) -> None:
        """A batch carrying outbox deliveries: messages, deliveries and bookkeeping in one transaction.

        A resend must write no second delivery, so copies already stored are found first (one
        query) and answered with the earlier message; should another node store a copy between
        that query and the commit, the transaction aborts and the batch fails (`unavailable`): the
        senders resend, and the resend finds the copy.
        """
        earlier = await self._db.batches.stored_copies([p.message for p in written])
        fresh: list[Pending] = []
        for pending in written:
            copy = earlier.get(pending.key)
            if copy is None:
                fresh.append(pending)
            else:
                pending.stored.set_result(Stored(copy, False))
                pending.done.set_result(None)
        activity = self._activity(fresh)
        docs = [delivery_to_doc(d) for p in fresh for d in p.deliveries]
        reopened, missing, later = await self._db.batches.settle(
            activity, messages=[p.message for p in fresh], outbox=docs
        )
        self._bookkeeping.add(later, self._clock())
        for pending in fresh:
            pending.stored.set_result(Stored(pending.message, True))
        for pending in followers:
            self._follow(pending, leaders_of(written)[pending.key])
        await self._finish(fresh, activity, reopened, missing)
        if docs:
            self._on_deliveries()

    async def _finish(
        self, new: list[Pending], activity: list[Activity], reopened: dict[str, Conversation], missing: set[str]
    ) -> None:
        if missing:
            # Erased while these were being written: they must not stay behind as orphans.
            gone = [p for p in new if p.message.conversation_id in missing]
            await self._db.batches.delete_orphans([p.message.id for p in gone], sorted(missing))
            for pending in gone:
                pending.fail(NotFound("This conversation no longer exists."))
            new = [p for p in new if p.message.conversation_id not in missing]
        for pending in new:
            conv = reopened.get(pending.message.conversation_id)
            pending.done.set_result(conv if conv is not None and self._reopened_by(pending, activity) else None)
            if self._metrics is not None:  # counted once, when new: resends and copies are not
                self._metrics.messages_stored.labels(sender=pending.message.sender).inc()

    @staticmethod
    def _reopened_by(pending: Pending, activity: list[Activity]) -> bool:
        return any(a.reopen_by == pending.message.id for a in activity)

    @staticmethod
    def _activity(new: list[Pending]) -> list[Activity]:
        """One bookkeeping entry per conversation, however many of its messages the batch holds."""
        by_conversation: dict[str, list[Pending]] = {}
        for pending in new:
            by_conversation.setdefault(pending.message.conversation_id, []).append(pending)
        activity = []
        for conversation_id, items in by_conversation.items():
            counted = [p for p in items if p.counted]
            reopener = next((p for p in items if p.reopen), None)
            if not counted and reopener is None:
                continue
            last = items[-1].message
            agent_times = [p.message.created_at for p in items if p.message.sender == "agent"]
            activity.append(
                Activity(
                    conversation_id,
                    len(counted),
                    last.id,
                    max(p.message.created_at for p in items),
                    reopener.message.id if reopener is not None else None,
                    min(agent_times) if agent_times else None,
                )
            )
        return activity

    async def _answer_with_earlier(self, pending: Pending) -> None:
        message = pending.message
        try:
            earlier = await self._db.messages.by_client_id(message.conversation_id, message.sender, message.client_id)
        except StorageUnavailable as exc:
            pending.fail(exc)
            return
        if earlier is None:  # the duplicate was on _id itself: astronomically unlikely
            pending.fail(StorageUnavailable())
            return
        pending.stored.set_result(Stored(earlier, False))
        pending.done.set_result(None)

    @staticmethod
    def _follow(pending: Pending, leader: Pending) -> None:
        if leader.stored.done() and leader.stored.exception() is None:
            pending.stored.set_result(Stored(leader.stored.result().message, False))
            pending.done.set_result(None)
        else:
            pending.fail(StorageUnavailable())


def leaders_of(written: list[Pending]) -> dict[tuple[str, str, str], Pending]:
    return {p.key: p for p in written}
