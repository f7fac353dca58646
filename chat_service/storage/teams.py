"""Teams: a name, the agents in it and the sites it is given (no personal data beyond staff ids)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from chat_service.errors import Conflict
from chat_service.models import Team
from chat_service.storage.database import translate_errors


def _team_from_doc(doc: dict[str, Any]) -> Team:
    return Team(
        id=doc["_id"],
        name=doc["name"],
        agent_ids=tuple(doc.get("agent_ids", ())),
        site_ids=tuple(doc.get("site_ids", ())),
        updated_at=doc["updated_at"],
    )


class TeamStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]):
        self._col = db.teams

    async def ensure_indexes(self) -> None:
        await self._col.create_index([("name", ASCENDING)], unique=True, name="name")

    @translate_errors
    async def all(self) -> list[Team]:
        return [_team_from_doc(doc) async for doc in self._col.find().sort("name", ASCENDING)]

    @translate_errors
    async def get(self, team_id: str) -> Team | None:
        doc = await self._col.find_one({"_id": team_id})
        return None if doc is None else _team_from_doc(doc)

    @translate_errors
    async def insert(self, team: Team) -> None:
        try:
            await self._col.insert_one(
                {
                    "_id": team.id,
                    "name": team.name,
                    "agent_ids": list(team.agent_ids),
                    "site_ids": list(team.site_ids),
                    "updated_at": team.updated_at,
                }
            )
        except DuplicateKeyError:
            raise Conflict("A team with this name already exists.") from None

    @translate_errors
    async def update(self, team_id: str, changes: dict[str, Any], at: datetime) -> Team | None:
        stored = {k: list(v) if isinstance(v, tuple | list) else v for k, v in changes.items()}
        try:
            doc = await self._col.find_one_and_update(
                {"_id": team_id},
                {"$set": {**stored, "updated_at": at}},
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            raise Conflict("A team with this name already exists.") from None
        return None if doc is None else _team_from_doc(doc)

    @translate_errors
    async def delete(self, team_id: str) -> bool:
        return (await self._col.delete_one({"_id": team_id})).deleted_count == 1

    @translate_errors
    async def remove_agent(self, agent_id: str) -> None:
        await self._col.update_many({"agent_ids": agent_id}, {"$pull": {"agent_ids": agent_id}})
