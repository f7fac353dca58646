"""What admins do with bots: save or reset a site's bot, try a question, make a webhook bot's token;
and what a webhook bot does through its token: reply, hand over."""

from __future__ import annotations

import contextlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chat_service.bots.builtin import BuiltinTurn, decide
from chat_service.bots.config import BotRegistry, SiteBot
from chat_service.bots.runner import BotRunner
from chat_service.bots.texts import language_of
from chat_service.conversations import Conversations, MessageView, iso
from chat_service.crypto import hash_token
from chat_service.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from chat_service.models import Conversation
from chat_service.outbox import EndpointInput, Webhooks
from chat_service.outbox.targets import check_region, check_url
from chat_service.schemas.bots import BotConfigBody
from chat_service.storage import Database
from chat_service.storage.bots import BotToken

TOKEN_PREFIX = "cbt_"  # noqa: S105 (a prefix, not a secret)


def check_target(config: BotConfigBody, *, dev: bool, allowed_regions: Iterable[str]) -> None:
    """An external bot's URL and region under the webhook rules (https, EU/EEA, no private address)."""
    if config.type == "builtin":
        return
    assert config.url is not None and config.region is not None
    check_url(config.url, dev=dev)
    check_region(config.region, allowed_regions, dev=dev)


def config_to_wire(config: BotConfigBody) -> dict[str, Any]:
    return config.model_dump(mode="json", exclude_none=True)


@dataclass
class BotAdmin:
    db: Database
    registry: BotRegistry
    runner: BotRunner
    conversations: Conversations
    webhooks: Webhooks
    site_ids: Callable[[], list[str]]
    dev: bool
    allowed_regions: tuple[str, ...]
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def _site(self, site_id: str) -> str:
        if site_id not in self.site_ids():
            raise NotFound("No such site.")
        return site_id

    async def overview(self) -> list[dict[str, Any]]:
        await self.registry.refresh(force=True)
        tokens = await self.db.bots.tokens()
        rows = []
        for site_id in self.site_ids():
            bot = self.registry.get(site_id)
            rows.append(self._row(site_id, bot, site_id in tokens))
        return rows

    @staticmethod
    def _row(site_id: str, bot: SiteBot | None, token_set: bool) -> dict[str, Any]:
        return {
            "site_id": site_id,
            "source": bot.source if bot is not None else "none",
            "config": config_to_wire(bot.config) if bot is not None else None,
            "token_set": token_set,
            "updated_at": iso(bot.updated_at) if bot is not None else None,
        }

    async def save(self, site_id: str, config: BotConfigBody, actor: str) -> dict[str, Any]:
        self._site(site_id)
        check_target(config, dev=self.dev, allowed_regions=self.allowed_regions)
        await self.db.bots.put_config(site_id, config_to_wire(config), self.clock(), actor)
        await self.registry.refresh(force=True)
        token = await self.db.bots.token(site_id)
        if token is not None and token.endpoint_id is not None and config.type == "webhook":
            # The webhook bot moved: its events follow (same secret, same token).
            with contextlib.suppress(NotFound):
                await self.webhooks.update(token.endpoint_id, EndpointInput(url=config.url, region=config.region))
        return self._row(site_id, self.registry.get(site_id), token is not None)

    async def reset(self, site_id: str) -> dict[str, Any]:
        self._site(site_id)
        await self.db.bots.delete_config(site_id)
        await self.registry.refresh(force=True)
        return self._row(site_id, self.registry.get(site_id), await self.db.bots.token(site_id) is not None)

    def test(self, site_id: str, text: str, language: str) -> BuiltinTurn:
        """What the built-in bot would answer; stores nothing, sends nothing."""
        self._site(site_id)
        bot = self.registry.get(site_id)
        if bot is None or bot.config.type != "builtin":
            raise Conflict("This site has no built-in bot.")
        return decide(bot, text, language)

    async def new_token(self, site_id: str) -> tuple[str, str]:
        """A webhook bot's token (for its replies) and signing secret (for its events), shown once."""
        self._site(site_id)
        bot = self.registry.get(site_id)
        if bot is None or bot.config.type != "webhook":
            raise Conflict("This site's bot is not a webhook bot.")
        assert bot.config.url is not None and bot.config.region is not None
        previous = await self.db.bots.token(site_id)
        if previous is not None and previous.endpoint_id is not None:
            with contextlib.suppress(NotFound):
                await self.webhooks.delete(previous.endpoint_id)
        # A hidden endpoint that listens to no event: only the bot runner queues for it.
        endpoint, secret = await self.webhooks.create(
            EndpointInput(
                url=bot.config.url,
                region=bot.config.region,
                events=(),
                fields=("message.text",),
                description=f"webhook bot of site {site_id} (managed under /api/bots)",
            )
        )
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        await self.db.bots.put_token(BotToken(site_id, hash_token(token), endpoint.id, self.clock()))
        return token, secret

    # --- the webhook bot's side -------------------------------------------------------------------

    async def authenticate_bot(self, site_id: str, authorization: str | None) -> SiteBot:
        scheme, _, given = (authorization or "").partition(" ")
        stored = await self.db.bots.token(site_id) if scheme.lower() == "bearer" and given else None
        if stored is None or not hmac.compare_digest(stored.token_hash, hash_token(given.strip())):
            raise Unauthenticated("A valid bot token is required (Authorization: Bearer …).")
        bot = self.registry.get(site_id)
        if bot is None or bot.config.type != "webhook":
            raise Conflict("This site's bot is not a webhook bot.")
        return bot

    async def _conversation(self, bot: SiteBot, sender: str) -> Conversation:
        conv = await self.db.conversations.by_bot_sender(bot.site_id, sender)
        if conv is None:
            raise NotFound("No conversation for this sender.")
        return conv

    async def hook_message(self, bot: SiteBot, sender: str, text: str, buttons: list[dict[str, str]]) -> MessageView:
        conv = await self._conversation(bot, sender)
        if conv.status != "bot":
            raise Conflict("This conversation was handed over; the bot may not answer in it.")
        if "\x00" in text:
            raise InvalidInput("'text' contains a NUL character.")
        language = language_of((await self.conversations.visitor_fields(conv)).get("language"))
        return await self.runner.say_once(bot, conv.id, "w-" + secrets.token_hex(8), text, tuple(buttons), language)

    async def hook_handover(self, bot: SiteBot, sender: str) -> Conversation:
        conv = await self._conversation(bot, sender)
        language = language_of((await self.conversations.visitor_fields(conv)).get("language"))
        changed = await self.runner.hand_over(conv.id, "bot", language, bot)
        return changed or await self.conversations.get(conv.id)
