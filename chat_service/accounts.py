"""Staff accounts: password hashing (argon2id), login, sessions with idle expiry."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from chat_service.conversations import utcnow
from chat_service.crypto import hash_token, new_secret
from chat_service.errors import InvalidCredentials, InvalidInput, Unauthenticated
from chat_service.models import Role, Session, User
from chat_service.storage import Database
from chat_service.validation import EMAIL

# OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1 (minimum recommendation).
PASSWORD_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
MIN_PASSWORD = 12
# Touch a session's last-seen time at most this often, not on every event.
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Authenticated:
    user: User
    session_hash: str


class Accounts:
    def __init__(self, db: Database, *, idle_minutes: int, clock: Callable[[], datetime] = utcnow):
        self._db = db
        self._idle = timedelta(minutes=idle_minutes)
        self._clock = clock
        # Verified against when the e-mail is unknown, so both cases cost the same time.
        self._dummy_hash = PASSWORD_HASHER.hash(secrets.token_urlsafe(16))

    async def create_user(self, email: str, password: str, role: Role, display_name: str | None = None) -> User:
        email = email.strip().lower()
        if not EMAIL.fullmatch(email):
            raise InvalidInput("That is not an e-mail address.")
        if len(password) < MIN_PASSWORD:
            raise InvalidInput(f"Passwords need at least {MIN_PASSWORD} characters.")
        user = User(
            id="u" + secrets.token_hex(12),
            email=email,
            role=role,
            password_hash=await asyncio.to_thread(PASSWORD_HASHER.hash, password),
            created_at=self._clock(),
            display_name=display_name,
        )
        await self._db.users.insert(user)
        return user

    async def login(self, email: str, password: str) -> tuple[User, str]:
        """Check the password; return the user and a new session secret for the cookie."""
        user = await self._db.users.by_email(email.strip().lower())
        ok = await asyncio.to_thread(self._verify, user.password_hash if user else self._dummy_hash, password)
        if user is None or not ok or user.disabled:
            raise InvalidCredentials()
        if PASSWORD_HASHER.check_needs_rehash(user.password_hash):
            await self._db.users.set_password_hash(user.id, await asyncio.to_thread(PASSWORD_HASHER.hash, password))
        secret = new_secret()
        now = self._clock()
        await self._db.sessions.insert(Session(hash_token(secret), user.id, now, now))
        return user, secret

    @staticmethod
    def _verify(password_hash: str, password: str) -> bool:
        try:
            return PASSWORD_HASHER.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def authenticate(self, secret: str | None) -> Authenticated:
        """Resolve a session cookie to an active user, or raise `Unauthenticated`."""
        if not secret or len(secret) > 100:
            raise Unauthenticated()
        id_hash = hash_token(secret)
        session = await self._db.sessions.get(id_hash)
        now = self._clock()
        if session is None:
            raise Unauthenticated()
        if session.last_seen_at + self._idle <= now:
            await self._db.sessions.delete(id_hash)
            raise Unauthenticated("Your session expired; sign in again.")
        user = await self._db.users.by_id(session.user_id)
        if user is None or user.disabled:
            raise Unauthenticated()
        if now - session.last_seen_at >= TOUCH_EVERY:
            await self._db.sessions.touch(id_hash, now)
        return Authenticated(user, id_hash)

    async def logout(self, secret: str | None) -> None:
        if secret and len(secret) <= 100:
            await self._db.sessions.delete(hash_token(secret))
