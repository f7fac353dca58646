"""Staff accounts and their login sessions (session ids are stored only as hashes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from chat_service.errors import Conflict
from chat_service.models import Session, User
from chat_service.storage.database import translate_errors


def _user_from_doc(doc: dict[str, Any]) -> User:
    return User(
        id=doc["_id"],
        email=doc["email"],
        role=doc["role"],
        password_hash=doc["password_hash"],
        created_at=doc["created_at"],
        disabled=doc.get("disabled", False),
        display_name=doc.get("display_name"),
    )


class UserStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]):
        self._col = db.users

    @translate_errors
    async def insert(self, user: User) -> None:
        try:
            await self._col.insert_one(
                {
                    "_id": user.id,
                    "email": user.email,
                    "role": user.role,
                    "password_hash": user.password_hash,
                    "created_at": user.created_at,
                    "disabled": user.disabled,
                    "display_name": user.display_name,
                }
            )
        except DuplicateKeyError:
            raise Conflict("A user with this e-mail already exists.") from None

    @translate_errors
    async def by_email(self, email: str) -> User | None:
        doc = await self._col.find_one({"email": email})
        return None if doc is None else _user_from_doc(doc)

    @translate_errors
    async def by_id(self, user_id: str) -> User | None:
        doc = await self._col.find_one({"_id": user_id})
        return None if doc is None else _user_from_doc(doc)

    @translate_errors
    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        await self._col.update_one({"_id": user_id}, {"$set": {"password_hash": password_hash}})


class SessionStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]):
        self._col = db.sessions

    @translate_errors
    async def insert(self, session: Session) -> None:
        await self._col.insert_one(
            {
                "_id": session.id_hash,
                "user_id": session.user_id,
                "created_at": session.created_at,
                "last_seen_at": session.last_seen_at,
            }
        )

    @translate_errors
    async def get(self, id_hash: str) -> Session | None:
        doc = await self._col.find_one({"_id": id_hash})
        if doc is None:
            return None
        return Session(doc["_id"], doc["user_id"], doc["created_at"], doc["last_seen_at"])

    @translate_errors
    async def touch(self, id_hash: str, at: datetime) -> None:
        await self._col.update_one({"_id": id_hash}, {"$max": {"last_seen_at": at}})

    @translate_errors
    async def delete(self, id_hash: str) -> None:
        await self._col.delete_one({"_id": id_hash})

    @translate_errors
    async def delete_idle(self, before: datetime) -> int:
        result = await self._col.delete_many({"last_seen_at": {"$lt": before}})
        return result.deleted_count
