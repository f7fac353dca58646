"""The delivery worker: every server process runs one; leases in MongoDB keep them from overlapping.

At least once: a delivery is marked done only after the receiver answered 2xx, so a crash
between sending and marking sends it again, with the same `webhook-id` for the receiver to
deduplicate. Per endpoint at most `concurrency` requests are in flight from one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import secrets
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp

from chat_service.crypto import DataKey, KeyRingSource
from chat_service.errors import ChatError, DecryptionFailed, NotFound
from chat_service.logging import get_logger
from chat_service.mail import Mailer, MailRefused, render_delivery
from chat_service.outbox.endpoints import Webhooks
from chat_service.outbox.events import DEFAULT_RETENTION, MAIL_ENDPOINT, Outbox, payload_aad, strip_unopted
from chat_service.outbox.schedule import WORST_CASE_SPAN, next_delay, parse_retry_after
from chat_service.outbox.signing import sign_headers
from chat_service.outbox.targets import CheckedResolver, check_literal_host, is_refusal
from chat_service.storage import Database
from chat_service.storage.outbox import AttemptResult, Delivery, Endpoint

log = get_logger(__name__)
# Beyond the requests' own timeouts: signing, and writing the outcome back.
LEASE_MARGIN = timedelta(seconds=5)
# Claimed per endpoint beyond what runs at once: the queue a batch may hold (bounded by the lease).
QUEUE_FACTOR = 16
MAX_RESPONSE_READ = 4096
# An attempt's outcome as the metrics name it.
_OUTCOMES = {"delivered": "delivered", "pending": "retry", "failed": "failed"}


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    retry_after: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookSender:
    """POSTs a signed body; connects only to addresses `CheckedResolver` allowed; never follows redirects."""

    def __init__(self, *, dev: bool, timeout_s: float):
        self._dev = dev
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(resolver=CheckedResolver(dev=self._dev), limit=200, ttl_dns_cache=10)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def post(self, url: str, body: str, headers: dict[str, str]) -> Outcome:
        try:
            check_literal_host(url, dev=self._dev)
            async with self._client().post(
                url,
                data=body.encode(),
                headers={**headers, "content-type": "application/json", "user-agent": "chat-service-webhooks/1"},
                allow_redirects=False,
            ) as response:
                await response.content.read(MAX_RESPONSE_READ)  # the body is not kept
                return Outcome(response.status, response.headers.get("Retry-After"))
        except TimeoutError:
            return Outcome(None, error="timeout")
        except (aiohttp.ClientError, OSError) as exc:
            if is_refusal(exc):
                return Outcome(None, error="refused target (private, loopback or link-local address)")
            return Outcome(None, error=f"connection failed: {type(exc).__name__}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class DeliveryWorker:
    def __init__(
        self,
        db: Database,
        keys: KeyRingSource,
        outbox: Outbox,
        webhooks: Webhooks,
        sender: WebhookSender,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        concurrency: int = 4,
        timeout_s: float = 10.0,
        poll_s: float = 1.0,
        batch: int = 200,
        retention: timedelta = DEFAULT_RETENTION,
        rand: Callable[[], float] = random.random,
        mailer: Mailer | None = None,
        observe: Callable[[str, str], None] = lambda kind, outcome: None,
    ):
        self._mailer = mailer
        # Each attempt's outcome, (kind, outcome), for the metrics: webhook/mail and
        # delivered/retry/failed.
        self._observe = observe
        self._db = db
        self._keys = keys
        self._outbox = outbox
        self._webhooks = webhooks
        self._sender = sender
        self._clock = clock
        self._concurrency = concurrency
        self._timeout = timedelta(seconds=timeout_s)
        self._poll_s = poll_s
        self._batch = batch
        self._retention = retention
        self._rand = rand
        self._wake = asyncio.Event()
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._queued: defaultdict[str, int] = defaultdict(int)
        self._batches: set[asyncio.Task[int]] = set()
        outbox.on_enqueue(self.wake)

    def wake(self) -> None:
        self._wake.set()

    # --- the loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Until cancelled: send what is due, then wait for a wake-up or the poll interval."""
        refreshed = 0.0
        loop = asyncio.get_running_loop()
        try:
            while True:
                self._wake.clear()
                try:
                    if loop.time() - refreshed > 5:
                        await self._outbox.refresh()  # endpoint changes made on other nodes
                        refreshed = loop.time()
                    if self._outbox.active:  # idle nodes of a deployment without webhooks cost nothing
                        await self._start_due()
                except ChatError as exc:
                    log.warning("outbox_worker_error", code=exc.code)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll_s):
                        await self._wake.wait()
        finally:
            for task in self._batches:
                task.cancel()
            await asyncio.gather(*self._batches, return_exceptions=True)

    async def run_once(self) -> int:
        """Send every delivery due now and wait for the answers (tests drive time with this)."""
        total = 0
        while True:
            task = await self._start_due()
            if task is None:
                return total
            sent = await task
            total += sent
            if sent == 0:
                return total

    async def _start_due(self) -> asyncio.Task[int] | None:
        now = self._clock()
        due = await self._db.outbox.due(now, self._batch)
        room = self._concurrency * QUEUE_FACTOR
        picked: list[str] = []
        per_endpoint: defaultdict[str, int] = defaultdict(int)
        for delivery_id, endpoint_id in due:
            if self._queued[endpoint_id] + per_endpoint[endpoint_id] < room:
                per_endpoint[endpoint_id] += 1
                picked.append(delivery_id)
        if not picked:
            return None
        # The lease covers the wait behind this process's earlier work for the busiest endpoint.
        depth = max(self._queued[e] + n for e, n in per_endpoint.items())
        lease_for = self._timeout * (math.ceil(depth / self._concurrency) + 1) + LEASE_MARGIN
        lease = secrets.token_hex(12)
        claimed = await self._db.outbox.claim(picked, now, lease, now + lease_for)
        if not claimed:
            return None
        for delivery in claimed:
            self._queued[delivery.endpoint_id] += 1
        task = asyncio.create_task(self._process(claimed))
        self._batches.add(task)
        task.add_done_callback(self._batches.discard)
        task.add_done_callback(lambda _: self.wake())  # room again: look for more at once
        return task

    # --- one batch ------------------------------------------------------------------------------

    async def _process(self, claimed: list[Delivery]) -> int:
        try:
            endpoints = {e.id: e for e in await self._db.webhook_endpoints.all()}
            conversation_ids = sorted({d.conversation_id for d in claimed if d.conversation_id})
            keys = await self._conversation_keys(conversation_ids)
            now = self._clock()
            wanted = {d.endpoint_id for d in claimed}
            signing = {e.id: await self._secrets(e, now) for e in endpoints.values() if e.id in wanted}
            results = await asyncio.gather(
                *(self._attempt(d, endpoints.get(d.endpoint_id), keys, signing) for d in claimed)
            )
            await self._record([r for r in results if r is not None])
            for result in results:
                if result is not None and result.status_code == 410:
                    await self._disable(result, claimed)
            return len(claimed)
        except ChatError as exc:
            # Nothing recorded: the leases run out and these deliveries are tried again.
            log.warning("outbox_batch_failed", code=exc.code, deliveries=len(claimed))
            return len(claimed)
        finally:
            for delivery in claimed:
                self._queued[delivery.endpoint_id] -= 1

    async def _secrets(self, endpoint: Endpoint, now: datetime) -> list[str]:
        try:
            return await self._webhooks.signing_secrets(endpoint, now)
        except (NotFound, DecryptionFailed):
            return []  # the endpoint's key is gone or unreadable: nothing is sent unsigned

    async def _record(self, results: list[AttemptResult]) -> None:
        """Successes alike (same attempt number and code) in one update each; the rest one by one."""
        alike: defaultdict[tuple[str, int, int], list[AttemptResult]] = defaultdict(list)
        others = []
        for r in results:
            if r.status == "delivered" and r.status_code is not None:
                alike[(r.lease, r.attempts, r.status_code)].append(r)
            else:
                others.append(r)
        for (lease, attempts, code), group in alike.items():
            at = max(r.at for r in group)
            ids = [r.delivery_id for r in group]
            await self._db.outbox.record_delivered(ids, lease, attempts, code, at, self._keep(at))
        await self._db.outbox.record(others)

    async def _conversation_keys(self, conversation_ids: list[str]) -> dict[str, DataKey]:
        if not conversation_ids:
            return {}
        ring = self._keys.current()
        keys = {}
        for owner_id, wrapped in (await self._db.data_keys.get_many(conversation_ids)).items():
            with contextlib.suppress(DecryptionFailed):
                keys[owner_id] = ring.unwrap(owner_id, wrapped)
        return keys

    async def _disable(self, result: AttemptResult, claimed: list[Delivery]) -> None:
        endpoint_id = next(d.endpoint_id for d in claimed if d.id == result.delivery_id)
        await self._db.webhook_endpoints.disable(endpoint_id, "the receiver answered 410 Gone", result.at)
        await self._db.outbox.fail_pending(
            endpoint_id, result.at, "endpoint disabled (410 Gone)", self._keep(result.at)
        )
        await self._outbox.refresh()
        log.warning("webhook_endpoint_disabled", endpoint_id=endpoint_id, reason="410")

    def _keep(self, at: datetime) -> datetime:
        return at + self._retention

    def _body(self, delivery: Delivery, endpoint: Endpoint, keys: dict[str, DataKey]) -> str | None:
        if delivery.conversation_id is None:
            payload = json.loads(delivery.payload)
        else:
            key = keys.get(delivery.conversation_id)
            if key is None:
                return None  # erased: the key is gone, and so is what the delivery was about
            payload = json.loads(key.decrypt(payload_aad(delivery.id), delivery.payload))
        return json.dumps(strip_unopted(payload, endpoint.fields), separators=(",", ":"))

    async def _attempt(
        self, delivery: Delivery, endpoint: Endpoint | None, keys: dict[str, DataKey], signing: dict[str, list[str]]
    ) -> AttemptResult | None:
        now = self._clock()
        lease = delivery.lease or ""
        if delivery.endpoint_id == MAIL_ENDPOINT:
            return await self._mail(delivery, lease, keys)
        if endpoint is None or not endpoint.enabled:
            return self._final(delivery, lease, now, None, "endpoint deleted or disabled")
        try:
            body = self._body(delivery, endpoint, keys)
        except (DecryptionFailed, ValueError):
            body = None
        if body is None:
            return self._final(delivery, lease, now, None, "payload unreadable (conversation erased?)")
        semaphore = self._limits.setdefault(endpoint.id, asyncio.Semaphore(self._concurrency))
        async with semaphore:
            secrets_ = signing.get(endpoint.id, [])
            # Signed with the wall clock, whatever `clock` says: receivers check it against theirs.
            if secrets_:
                headers = sign_headers(delivery.id, datetime.now(UTC), body, secrets_)
                outcome = await self._sender.post(endpoint.url, body, headers)
            else:  # never send unsigned
                outcome = Outcome(None, error="no readable signing secret")
        return self._after(delivery, lease, outcome)

    async def _mail(self, delivery: Delivery, lease: str, keys: dict[str, DataKey]) -> AttemptResult:
        key = keys.get(delivery.conversation_id or "")
        try:
            if key is None:
                raise DecryptionFailed()
            mail = render_delivery(delivery.event_type, key.decrypt(payload_aad(delivery.id), delivery.payload))
        except (DecryptionFailed, ValueError, TypeError):
            return self._final(delivery, lease, self._clock(), None, "payload unreadable (conversation erased?)")
        if self._mailer is None:
            outcome = Outcome(None, error="e-mail is not configured on this node")
        else:
            async with self._limits.setdefault(MAIL_ENDPOINT, asyncio.Semaphore(self._concurrency)):
                try:
                    await self._mailer.send(mail)
                    outcome = Outcome(250)
                except MailRefused as exc:
                    outcome = Outcome(None, error=str(exc)[:200])
                except (OSError, TimeoutError, ValueError) as exc:
                    outcome = Outcome(None, error=f"SMTP connection failed: {type(exc).__name__}")
        return self._after(delivery, lease, outcome)

    def _after(self, delivery: Delivery, lease: str, outcome: Outcome) -> AttemptResult:
        attempts = delivery.attempts + 1
        done = self._clock()
        result = self._result(delivery, lease, outcome, attempts, done)
        self._observe("mail" if delivery.endpoint_id == MAIL_ENDPOINT else "webhook", _OUTCOMES[result.status])
        return result

    def _result(self, delivery: Delivery, lease: str, outcome: Outcome, attempts: int, done: datetime) -> AttemptResult:
        (log.debug if outcome.ok else log.info)(
            "outbox_attempt",
            delivery_id=delivery.id,
            endpoint_id=delivery.endpoint_id,
            attempt=attempts,
            status_code=outcome.status_code,
            error=outcome.error,
        )
        if outcome.ok:
            return AttemptResult(
                delivery.id, lease, "delivered", attempts, done, None, outcome.status_code, None, self._keep(done)
            )
        if outcome.status_code == 410:
            return AttemptResult(delivery.id, lease, "failed", attempts, done, None, 410, "410 Gone", self._keep(done))
        error = outcome.error or f"HTTP {outcome.status_code}"
        delay = next_delay(attempts, parse_retry_after(outcome.retry_after, done), self._rand)
        if delay is None:
            return AttemptResult(
                delivery.id, lease, "failed", attempts, done, None, outcome.status_code, error, self._keep(done)
            )
        retry_at = done + delay
        return AttemptResult(
            delivery.id,
            lease,
            "pending",
            attempts,
            done,
            retry_at,
            outcome.status_code,
            error,
            retry_at + WORST_CASE_SPAN + self._retention,
        )

    def _final(self, delivery: Delivery, lease: str, now: datetime, code: int | None, error: str) -> AttemptResult:
        """Ends without an attempt: nothing to send it to, or nothing readable to send."""
        self._observe("mail" if delivery.endpoint_id == MAIL_ENDPOINT else "webhook", "dropped")
        return AttemptResult(delivery.id, lease, "failed", delivery.attempts, now, None, code, error, self._keep(now))
