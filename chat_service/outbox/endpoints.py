"""Webhook endpoints as admins manage them: create, change, rotate the secret, delete, test, redeliver.

Each endpoint has its own data key (in `data_keys`, so `keys rotate` re-wraps it); its signing
secrets are stored encrypted under it and shown in clear once, when made. A rotated-out secret
keeps signing beside the new one for `ROTATION_OVERLAP`, so receivers can switch without a gap.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chat_service.crypto import DataKey, FieldRef, KeyRingSource
from chat_service.errors import Conflict, DecryptionFailed, InvalidInput, NotFound
from chat_service.outbox.events import EVENT_TYPES, OPT_IN_FIELDS, Outbox
from chat_service.outbox.signing import new_secret
from chat_service.outbox.targets import check_region, check_url
from chat_service.storage import Database
from chat_service.storage.outbox import Delivery, Endpoint, EndpointSecret

ROTATION_OVERLAP = timedelta(hours=24)
MAX_ENDPOINTS = 50
MAX_DESCRIPTION = 200


@dataclass(frozen=True)
class EndpointInput:
    """An endpoint as an admin sends it (every key optional on update)."""

    url: str | None = None
    region: str | None = None
    events: tuple[str, ...] | None = None
    fields: tuple[str, ...] | None = None
    description: str | None = None
    enabled: bool | None = None


def parse_endpoint_input(body: Mapping[str, Any], *, partial: bool) -> EndpointInput:
    """Shape checks of a request body; the URL and region rules are checked by `Webhooks`."""
    known = {"url", "region", "events", "fields", "description", "enabled"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise InvalidInput(f"Unknown field(s): {', '.join(unknown)}.")
    if not partial:
        missing = [k for k in ("url", "region", "events") if k not in body]
        if missing:
            raise InvalidInput(f"Missing field(s): {', '.join(missing)}.")
    events = _string_list(body, "events", EVENT_TYPES)
    if events is not None and not events:
        raise InvalidInput("events: choose at least one event.")
    description = body.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > MAX_DESCRIPTION):
        raise InvalidInput(f"description: text of at most {MAX_DESCRIPTION} characters.")
    enabled = body.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        raise InvalidInput("enabled: true or false.")
    url, region = body.get("url"), body.get("region")
    if url is not None and not isinstance(url, str):
        raise InvalidInput("url: a string.")
    if region is not None and not isinstance(region, str):
        raise InvalidInput("region: a string.")
    return EndpointInput(url, region, events, _string_list(body, "fields", OPT_IN_FIELDS), description, enabled)


def _string_list(body: Mapping[str, Any], name: str, allowed: Iterable[str]) -> tuple[str, ...] | None:
    value = body.get(name)
    if value is None:
        return None
    options = tuple(allowed)
    if not isinstance(value, list) or not all(isinstance(v, str) and v in options for v in value):
        raise InvalidInput(f"{name}: a list of {', '.join(options)}.")
    return tuple(dict.fromkeys(value))


def new_endpoint_id() -> str:
    return "we" + secrets.token_hex(12)


def secret_ref(endpoint_id: str, secret_id: str) -> FieldRef:
    return FieldRef("webhook_endpoints", endpoint_id, f"secrets.{secret_id}")


class Webhooks:
    def __init__(
        self,
        db: Database,
        keys: KeyRingSource,
        outbox: Outbox,
        *,
        allowed_regions: Iterable[str],
        dev: bool,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._db = db
        self._keys = keys
        self._outbox = outbox
        self._regions = tuple(allowed_regions)
        self._dev = dev
        self._clock = clock

    async def _key(self, endpoint_id: str) -> DataKey:
        wrapped = await self._db.data_keys.get(endpoint_id)
        if wrapped is None:
            raise NotFound("No such webhook endpoint.")
        return self._keys.current().unwrap(endpoint_id, wrapped)

    async def signing_secrets(self, endpoint: Endpoint, now: datetime) -> list[str]:
        """The endpoint's secrets still valid at `now`, newest first, in clear (for signing only)."""
        key = await self._key(endpoint.id)
        valid = [s for s in endpoint.secrets if s.expires_at is None or s.expires_at > now]
        out = []
        for secret in sorted(valid, key=lambda s: s.created_at, reverse=True):
            try:
                out.append(key.decrypt(secret_ref(endpoint.id, secret.id), secret.ciphertext))
            except DecryptionFailed:
                continue
        return out

    def _seal_secret(self, key: DataKey, endpoint_id: str, now: datetime) -> tuple[EndpointSecret, str]:
        clear = new_secret()
        secret_id = "s" + secrets.token_hex(6)
        return EndpointSecret(secret_id, key.encrypt(secret_ref(endpoint_id, secret_id), clear), now), clear

    async def all(self) -> list[Endpoint]:
        return await self._db.webhook_endpoints.all()

    async def get(self, endpoint_id: str) -> Endpoint:
        endpoint = await self._db.webhook_endpoints.get(endpoint_id)
        if endpoint is None:
            raise NotFound("No such webhook endpoint.")
        return endpoint

    async def create(self, given: EndpointInput) -> tuple[Endpoint, str]:
        """A new endpoint and its secret, in clear this once."""
        assert given.url is not None and given.region is not None and given.events is not None
        url = check_url(given.url, dev=self._dev)
        region = check_region(given.region, self._regions, dev=self._dev)
        if len(await self._db.webhook_endpoints.all()) >= MAX_ENDPOINTS:
            raise Conflict(f"At most {MAX_ENDPOINTS} webhook endpoints.")
        now = self._clock()
        endpoint_id = new_endpoint_id()
        key, wrapped = self._keys.current().new_data_key(endpoint_id)
        secret, clear = self._seal_secret(key, endpoint_id, now)
        endpoint = Endpoint(
            id=endpoint_id,
            url=url,
            region=region,
            events=given.events,
            fields=given.fields or (),
            enabled=True if given.enabled is None else given.enabled,
            created_at=now,
            updated_at=now,
            description=given.description or "",
            secrets=(secret,),
        )
        # Key first: an endpoint never exists without the key that reads its secret.
        await self._db.data_keys.put(endpoint_id, wrapped, now)
        await self._db.webhook_endpoints.insert(endpoint)
        await self._outbox.refresh()
        return endpoint, clear

    async def update(self, endpoint_id: str, given: EndpointInput) -> Endpoint:
        changes: dict[str, Any] = {"updated_at": self._clock()}
        if given.url is not None:
            changes["url"] = check_url(given.url, dev=self._dev)
        if given.region is not None:
            changes["region"] = check_region(given.region, self._regions, dev=self._dev)
        if given.events is not None:
            changes["events"] = list(given.events)
        if given.fields is not None:
            changes["fields"] = list(given.fields)
        if given.description is not None:
            changes["description"] = given.description
        if given.enabled is not None:
            changes["enabled"] = given.enabled
            if given.enabled:
                changes["disabled_reason"] = None
        endpoint = await self._db.webhook_endpoints.update(endpoint_id, changes)
        if endpoint is None:
            raise NotFound("No such webhook endpoint.")
        await self._outbox.refresh()
        return endpoint

    async def rotate_secret(self, endpoint_id: str) -> tuple[Endpoint, str]:
        """A new secret; the current ones keep signing for `ROTATION_OVERLAP`, then stop."""
        endpoint = await self.get(endpoint_id)
        now = self._clock()
        key = await self._key(endpoint_id)
        secret, clear = self._seal_secret(key, endpoint_id, now)
        ending = now + ROTATION_OVERLAP
        kept = [
            EndpointSecret(s.id, s.ciphertext, s.created_at, min(s.expires_at or ending, ending))
            for s in endpoint.secrets
            if s.expires_at is None or s.expires_at > now
        ]
        updated = await self._db.webhook_endpoints.set_secrets(endpoint_id, [secret, *kept], now)
        if updated is None:
            raise NotFound("No such webhook endpoint.")
        return updated, clear

    async def delete(self, endpoint_id: str) -> None:
        if not await self._db.webhook_endpoints.delete(endpoint_id):
            raise NotFound("No such webhook endpoint.")
        await self._db.data_keys.delete(endpoint_id)
        await self._db.outbox.delete_for_endpoint(endpoint_id)
        await self._outbox.refresh()

    async def send_test(self, endpoint_id: str) -> Delivery:
        await self.get(endpoint_id)
        delivery = self._outbox.test_event(endpoint_id)
        await self._outbox.insert([delivery])
        return delivery

    async def deliveries(self, endpoint_id: str, limit: int = 100) -> list[Delivery]:
        await self.get(endpoint_id)
        return await self._db.outbox.for_endpoint(endpoint_id, limit)

    async def redeliver(self, endpoint_id: str, delivery_id: str) -> None:
        endpoint = await self.get(endpoint_id)
        if not endpoint.enabled:
            raise Conflict("Enable the endpoint first.")
        now = self._clock()
        if not await self._db.outbox.redeliver(delivery_id, endpoint_id, now, self._outbox.expires_pending(now)):
            raise NotFound("No finished delivery with that id for this endpoint.")
        self._outbox.notify()
