"""Staff accounts, login sessions (ids stored only as hashes) and login throttling."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
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
        must_change_password=doc.get("must_change_password", False),
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
                    "must_change_password": user.must_change_password,
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
    async def all(self) -> list[User]:
        return [_user_from_doc(doc) async for doc in self._col.find().sort("email", ASCENDING)]

    @translate_errors
    async def set_password_hash(self, user_id: str, password_hash: str, *, must_change: bool = False) -> None:
        await self._col.update_one(
            {"_id": user_id}, {"$set": {"password_hash": password_hash, "must_change_password": must_change}}
        )

    @translate_errors
    async def update(self, user_id: str, changes: dict[str, Any]) -> User | None:
        """Set `role`, `disabled` and/or `display_name`."""
        allowed = {k: v for k, v in changes.items() if k in {"role", "disabled", "display_name"}}
        doc = await self._col.find_one_and_update(
            {"_id": user_id}, {"$set": allowed}, return_document=ReturnDocument.AFTER
        )
        return None if doc is None else _user_from_doc(doc)

    @translate_errors
    async def count_active_admins(self) -> int:
        return await self._col.count_documents({"role": "admin", "disabled": {"$ne": True}})


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
                "csrf_hash": session.csrf_hash,
            }
        )

    @translate_errors
    async def get(self, id_hash: str) -> Session | None:
        doc = await self._col.find_one({"_id": id_hash})
        if doc is None:
            return None
        return Session(doc["_id"], doc["user_id"], doc["created_at"], doc["last_seen_at"], doc.get("csrf_hash", ""))

    @translate_errors
    async def touch(self, id_hash: str, at: datetime) -> None:
        await self._col.update_one({"_id": id_hash}, {"$max": {"last_seen_at": at}})

    @translate_errors
    async def delete(self, id_hash: str) -> None:
        await self._col.delete_one({"_id": id_hash})

    @translate_errors
    async def delete_for_user(self, user_id: str, *, keep: str | None = None) -> int:
        query: dict[str, Any] = {"user_id": user_id}
        if keep is not None:
            query["_id"] = {"$ne": keep}
        return (await self._col.delete_many(query)).deleted_count

    @translate_errors
    async def delete_idle(self, before: datetime) -> int:
        result = await self._col.delete_many({"last_seen_at": {"$lt": before}})
        return result.deleted_count


class LoginThrottleStore:
    """Failed-login counters per keyed hash of the account name or of the client address.

    Keys are HMACs, so the collection holds neither e-mail addresses nor IP addresses.
    """

    def __init__(self, db: AsyncDatabase[dict[str, Any]]):
        self._col = db.login_throttle

    @translate_errors
    async def blocked_until(self, keys: list[str]) -> datetime | None:
        latest = None
        async for doc in self._col.find({"_id": {"$in": keys}}):
            until = doc.get("blocked_until")
            if until is not None and (latest is None or until > latest):
                latest = until
        return latest

    @translate_errors
    async def record_failure(self, key: str, at: datetime) -> int:
        doc = await self._col.find_one_and_update(
            {"_id": key},
            {"$inc": {"failures": 1}, "$set": {"last_failure_at": at}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return int(doc["failures"]) if doc else 1

    @translate_errors
    async def block(self, key: str, until: datetime) -> None:
        await self._col.update_one({"_id": key}, {"$max": {"blocked_until": until}})

    @translate_errors
    async def clear(self, key: str) -> None:
        await self._col.delete_one({"_id": key})

    @translate_errors
    async def forget_older_than(self, before: datetime) -> int:
        return (await self._col.delete_many({"last_failure_at": {"$lt": before}})).deleted_count
