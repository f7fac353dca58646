"""Bot configurations admins saved (they replace the sites file's for that site) and webhook-bot tokens.

A configuration holds no personal data (texts an admin wrote); it lives until an admin resets it.
A token is kept only as its SHA-256 (shown once when made), with the id of the hidden webhook
endpoint that signs the bot's events; both go when the site's bot is reset or the token replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from chat_service.storage.database import translate_errors


@dataclass(frozen=True)
class StoredBotConfig:
    site_id: str
    config: dict[str, Any]
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class BotToken:
    site_id: str
    token_hash: str
    endpoint_id: str | None
    created_at: datetime


class BotStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]):
        self._configs = db.bot_configs
        self._tokens = db.bot_tokens

    @translate_errors
    async def all_configs(self) -> list[StoredBotConfig]:
        return [
            StoredBotConfig(doc["_id"], doc["config"], doc["updated_at"], doc.get("updated_by", ""))
            async for doc in self._configs.find({})
        ]

    @translate_errors
    async def put_config(self, site_id: str, config: dict[str, Any], at: datetime, actor: str) -> None:
        await self._configs.replace_one(
            {"_id": site_id}, {"config": config, "updated_at": at, "updated_by": actor}, upsert=True
        )

    @translate_errors
    async def delete_config(self, site_id: str) -> bool:
        return (await self._configs.delete_one({"_id": site_id})).deleted_count > 0

    @translate_errors
    async def token(self, site_id: str) -> BotToken | None:
        doc = await self._tokens.find_one({"_id": site_id})
        if doc is None:
            return None
        return BotToken(doc["_id"], doc["token_hash"], doc.get("endpoint_id"), doc["created_at"])

    @translate_errors
    async def put_token(self, token: BotToken) -> None:
        await self._tokens.replace_one(
            {"_id": token.site_id},
            {"token_hash": token.token_hash, "endpoint_id": token.endpoint_id, "created_at": token.created_at},
            upsert=True,
        )

    @translate_errors
    async def tokens(self) -> dict[str, BotToken]:
        return {
            doc["_id"]: BotToken(doc["_id"], doc["token_hash"], doc.get("endpoint_id"), doc["created_at"])
            async for doc in self._tokens.find({})
        }
