"""External bots: what leaves for them (minimised, redacted, pseudonymous) and the Rasa REST client.

An external bot is a processor (GDPR Art. 28): it gets a pseudonym per conversation (a keyed hash,
not the conversation id), the visitor's text with personal data redacted (unless the site opted
out), and only the visitor fields the site lists in `share`. Nothing else.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from pydantic import ValidationError

from chat_service.bots.builtin import BotMessage
from chat_service.crypto import HmacKeys
from chat_service.errors import InvalidInput
from chat_service.logging import get_logger
from chat_service.outbox.targets import CheckedResolver, check_literal_host, is_refusal
from chat_service.schemas.bots import RasaAnswer
from chat_service.schemas.jsonbody import loads as bounded_loads
from retention.redact import known_value_patterns, redact

log = get_logger(__name__)
RETRY_PAUSE_S = 0.3
MAX_ANSWER_BYTES = 256 * 1024
ATTEMPTS = 2  # the retry policy: one retry after a 5xx or a failed connection, within the timeout


class BotFailed(Exception):
    """The bot answered 5xx, could not be reached (after the retry) or answered nonsense."""


def bot_sender(hmac_keys: HmacKeys, conversation_id: str) -> str:
    """The pseudonym an external bot knows a conversation by: stable for it, unlinkable to the id."""
    return hmac_keys.mac("pseudonym", f"bot-sender:{conversation_id}".encode())[:32]


@dataclass(frozen=True)
class Outgoing:
    """Exactly what an external bot receives about one visitor message."""

    sender: str
    message: str
    metadata: dict[str, str]


def outgoing(
    text: str, visitor: Mapping[str, str], *, sender: str, redact_text: bool, share: Sequence[str]
) -> Outgoing:
    """Minimise: the redacted text (the visitor's own name, e-mail, IP and page too), shared fields only."""
    if redact_text:
        known = known_value_patterns(
            (kind, visitor[name])
            for name, kind in (("name", "name"), ("email", "email"), ("ip", "ip"), ("page_url", "url"))
            if visitor.get(name)
        )
        text = redact(text, known).text
    metadata = {name: visitor[name] for name in share if visitor.get(name)}
    return Outgoing(sender, text, metadata)


def rasa_messages(answer: list[Any]) -> tuple[list[BotMessage], bool]:
    """Rasa's list of items as our messages, and whether one asked for a hand-over."""
    try:
        items = RasaAnswer.model_validate({"items": answer}).items
    except ValidationError as exc:
        raise BotFailed(f"unexpected answer: {exc.error_count()} problem(s)") from None
    messages: list[BotMessage] = []
    for item in items:
        if item.custom and item.custom.get("handover") is True:
            return messages, True
        text = "\n".join(part for part in (item.text, item.image) if part)
        buttons = tuple({"title": b.title, "payload": b.payload} for b in item.buttons)
        if text.strip():
            messages.append(BotMessage(text.strip(), buttons))
    return messages, False


class BotClient:
    """POSTs JSON to bots: connects only to addresses `CheckedResolver` allows, follows no redirect."""

    def __init__(self, *, dev: bool):
        self._dev = dev
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(resolver=CheckedResolver(dev=self._dev), limit=100, ttl_dns_cache=10)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def post_json(self, url: str, body: Mapping[str, Any]) -> Any:
        """The parsed JSON answer; `BotFailed` after the retry policy. The caller bounds the time."""
        problem = "no attempt"
        for attempt in range(ATTEMPTS):
            if attempt:
                await asyncio.sleep(RETRY_PAUSE_S)
            try:
                check_literal_host(url, dev=self._dev)
                async with self._client().post(
                    url,
                    data=json.dumps(body),
                    headers={"content-type": "application/json", "user-agent": "chat-service-bots/1"},
                    allow_redirects=False,
                ) as response:
                    raw = await response.content.read(MAX_ANSWER_BYTES + 1)
                    if response.status >= 500:
                        problem = f"status {response.status}"
                        continue
                    if not 200 <= response.status < 300:
                        raise BotFailed(f"status {response.status}")
                    if len(raw) > MAX_ANSWER_BYTES:
                        raise BotFailed("answer too large")
                    try:
                        # Bounded like every untrusted body: 1,000 nested arrays are a failed turn,
                        # not a RecursionError.
                        return bounded_loads(raw or b"[]")
                    except InvalidInput as exc:
                        raise BotFailed(f"answer is not usable JSON: {exc.message}") from None
            except (aiohttp.ClientError, OSError) as exc:
                if is_refusal(exc):
                    raise BotFailed("refused target (private, loopback or link-local address)") from None
                problem = f"connection failed: {type(exc).__name__}"
        raise BotFailed(problem)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def ask_rasa(client: BotClient, url: str, sent: Outgoing) -> tuple[list[BotMessage], bool]:
    """One Rasa REST turn: `{"sender", "message", "metadata"}` out, the list of items back."""
    answer = await client.post_json(url, {"sender": sent.sender, "message": sent.message, "metadata": sent.metadata})
    if not isinstance(answer, list):
        raise BotFailed("answer is not a list")
    return rasa_messages(answer)
