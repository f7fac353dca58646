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
        totp_enabled=doc.get("totp_enabled", False),
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

    # --- second factor (the TOTP seed is stored only encrypted; recovery codes only hashed) ----

    @translate_errors
    async def totp_secret(self, user_id: str, *, pending: bool = False) -> bytes | None:
        field = "totp_pending" if pending else "totp_secret"
        doc = await self._col.find_one({"_id": user_id}, {field: 1})
        return None if doc is None or doc.get(field) is None else bytes(doc[field])

    @translate_errors
    async def set_totp_pending(self, user_id: str, sealed: bytes) -> None:
        await self._col.update_one({"_id": user_id}, {"$set": {"totp_pending": sealed}})

    @translate_errors
    async def enable_totp(self, user_id: str, sealed: bytes, recovery_hashes: list[str], step: int) -> None:
        await self._col.update_one(
            {"_id": user_id},
            {
                "$set": {
                    "totp_secret": sealed,
                    "totp_enabled": True,
                    "totp_last_step": step,
                    "recovery_hashes": recovery_hashes,
                },
                "$unset": {"totp_pending": ""},
            },
        )

    @translate_errors
    async def disable_totp(self, user_id: str) -> None:
        await self._col.update_one(
            {"_id": user_id},
            {
                "$set": {"totp_enabled": False},
                "$unset": {"totp_secret": "", "totp_pending": "", "totp_last_step": "", "recovery_hashes": ""},
            },
        )

    @translate_errors
    async def claim_totp_step(self, user_id: str, step: int) -> bool:
        """Accept a code's time step once: False if it (or a later one) was used already."""
        result = await self._col.update_one(
            {"_id": user_id, "totp_enabled": True, "totp_last_step": {"$lt": step}}, {"$set": {"totp_last_step": step}}
        )
        return result.modified_count == 1

    @translate_errors
    async def use_recovery_code(self, user_id: str, code_hash: str) -> bool:
        """Spend a recovery code: True once per code."""
        result = await self._col.update_one(
            {"_id": user_id, "totp_enabled": True, "recovery_hashes": code_hash},
            {"$pull": {"recovery_hashes": code_hash}},
        )
        return result.modified_count == 1

    @translate_errors
    async def recovery_codes_left(self, user_id: str) -> int:
        doc = await self._col.find_one({"_id": user_id}, {"recovery_hashes": 1})
        return 0 if doc is None else len(doc.get("recovery_hashes", []))


def _session_from_doc(doc: dict[str, Any]) -> Session:
    return Session(
        doc["_id"],
        doc["user_id"],
        doc["created_at"],
        doc["last_seen_at"],
        doc.get("csrf_hash", ""),
        public_id=doc.get("public_id", ""),
        expires_at=doc.get("expires_at"),
        client=doc.get("client", ""),
        pending_second_factor=doc.get("pending_second_factor", False),
    )


class SessionStore:
    """Sessions by hash of their secret. `sockets` lists the Socket.IO ids opened with a session,
    so ending it can close them on whichever node holds them; `expires_at` (TTL) is the
    absolute end of the session."""

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
                "public_id": session.public_id,
                "expires_at": session.expires_at,
                "client": session.client,
                "pending_second_factor": session.pending_second_factor,
            }
        )

    @translate_errors
    async def get(self, id_hash: str) -> Session | None:
        doc = await self._col.find_one({"_id": id_hash}, {"sockets": 0})
        return None if doc is None else _session_from_doc(doc)

    @translate_errors
    async def many(self, id_hashes: list[str]) -> dict[str, Session]:
        cursor = self._col.find({"_id": {"$in": id_hashes}}, {"sockets": 0})
        return {doc["_id"]: _session_from_doc(doc) async for doc in cursor}

    @translate_errors
    async def of_user(self, user_id: str) -> list[Session]:
        cursor = self._col.find({"user_id": user_id}, {"sockets": 0}).sort("created_at", ASCENDING)
        return [_session_from_doc(doc) async for doc in cursor]

    @translate_errors
    async def touch(self, id_hash: str, at: datetime) -> None:
        await self._col.update_one({"_id": id_hash}, {"$max": {"last_seen_at": at}})

    @translate_errors
    async def count_second_factor_try(self, id_hash: str) -> int:
        doc = await self._col.find_one_and_update(
            {"_id": id_hash}, {"$inc": {"second_factor_tries": 1}}, return_document=ReturnDocument.AFTER
        )
        return 0 if doc is None else int(doc["second_factor_tries"])

    @translate_errors
    async def add_socket(self, id_hash: str, sid: str) -> bool:
        """Record a socket on its session; False if the session is gone."""
        result = await self._col.update_one({"_id": id_hash}, {"$addToSet": {"sockets": sid}})
        return result.matched_count == 1

    @translate_errors
    async def remove_socket(self, id_hash: str, sid: str) -> None:
        await self._col.update_one({"_id": id_hash}, {"$pull": {"sockets": sid}})

    @translate_errors
    async def delete(self, id_hash: str) -> list[str]:
        """Delete one session; the sockets that were open with it."""
        doc = await self._col.find_one_and_delete({"_id": id_hash})
        return [] if doc is None else [str(s) for s in doc.get("sockets", [])]

    @translate_errors
    async def delete_public(self, user_id: str, public_id: str) -> list[str] | None:
        """Delete one of a user's sessions by its public id; None if there is no such session."""
        doc = await self._col.find_one_and_delete({"user_id": user_id, "public_id": public_id})
        return None if doc is None else [str(s) for s in doc.get("sockets", [])]

    @translate_errors
    async def delete_for_user(self, user_id: str, *, keep: str | None = None) -> list[str]:
        """Delete a user's sessions (but `keep`); the sockets that were open with them."""
        query: dict[str, Any] = {"user_id": user_id}
        if keep is not None:
            query["_id"] = {"$ne": keep}
        sockets = [str(s) async for doc in self._col.find(query, {"sockets": 1}) for s in doc.get("sockets", [])]
        await self._col.delete_many(query)
        return sockets

    @translate_errors
    async def delete_idle(self, before: datetime) -> int:
        result = await self._col.delete_many({"last_seen_at": {"$lt": before}})
        return result.deleted_count


class LoginThrottleStore:
    """Sign-in attempt counters per keyed hash (of an account + address pair, or of an address),
    one document per key and time window.

    Keys are HMACs, so the collection holds neither e-mail addresses nor IP addresses. Each window's
    document carries `expires_at` (TTL index): counters decay without a clean-up job.
    """

    def __init__(self, db: AsyncDatabase[dict[str, Any]]):
        self._col = db.login_throttle

    @translate_errors
    async def count_attempt(self, key: str, window: int, expires_at: datetime) -> int:
        """Count one attempt in `window` atomically (upsert + $inc); the count including it."""
        doc = await self._col.find_one_and_update(
            {"_id": f"{key}:{window}"},
            {"$inc": {"attempts": 1}, "$setOnInsert": {"expires_at": expires_at}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return int(doc["attempts"]) if doc else 1

    @translate_errors
    async def counts(self, keys: list[str], window: int) -> dict[str, int]:
        """Attempts per key in `window` (absent keys: 0)."""
        ids = {f"{key}:{window}": key for key in keys}
        found = {
            ids[doc["_id"]]: int(doc.get("attempts", 0)) async for doc in self._col.find({"_id": {"$in": list(ids)}})
        }
        return {key: found.get(key, 0) for key in keys}

    @translate_errors
    async def refund(self, key: str, window: int) -> None:
        """Take back one attempt (it succeeded); never below zero."""
        await self._col.update_one({"_id": f"{key}:{window}", "attempts": {"$gt": 0}}, {"$inc": {"attempts": -1}})

    @translate_errors
    async def clear(self, key: str, windows: list[int]) -> None:
        await self._col.delete_many({"_id": {"$in": [f"{key}:{w}" for w in windows]}})
