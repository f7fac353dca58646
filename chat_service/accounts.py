"""Staff accounts: argon2id passwords, throttled login, sessions with idle expiry and CSRF tokens,
and the admin operations on users (each one audited)."""

from __future__ import annotations

import asyncio
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from chat_service.audit import AuditLog
from chat_service.conversations import utcnow
from chat_service.crypto import HmacKeys, hash_token, new_secret
from chat_service.errors import (
    Conflict,
    Forbidden,
    InvalidCredentials,
    InvalidInput,
    NotFound,
    PasswordChangeRequired,
    TooManyAttempts,
    Unauthenticated,
)
from chat_service.models import Role, Session, User
from chat_service.storage import Database
from chat_service.validation import EMAIL

# OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1 (minimum recommendation).
PASSWORD_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
# Touch a session's last-seen time at most this often, not on every event.
TOUCH_EVERY = timedelta(minutes=1)
# Failures allowed before each further one doubles the wait (5 s, 10 s, 20 s, ... up to 15 min).
FREE_FAILURES_PER_ACCOUNT = 5
FREE_FAILURES_PER_ADDRESS = 20
MAX_BLOCK = timedelta(minutes=15)
ROLES: tuple[Role, ...] = ("agent", "admin")


@dataclass(frozen=True)
class Authenticated:
    user: User
    session_hash: str
    csrf_hash: str

    def check_csrf(self, token: str | None) -> None:
        if not token or len(token) > 100 or not hmac.compare_digest(hash_token(token), self.csrf_hash):
            raise Forbidden("Missing or wrong CSRF token (send the X-CSRF-Token header).")


@dataclass(frozen=True)
class LoggedIn:
    user: User
    session_secret: str
    csrf_token: str


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"Passwords need at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput("That password is too long.")


def _block_for(failures: int, free: int) -> timedelta | None:
    if failures < free:
        return None
    return min(timedelta(seconds=5 * 2 ** (failures - free)), MAX_BLOCK)


class Accounts:
    def __init__(
        self,
        db: Database,
        *,
        idle_minutes: int,
        audit: AuditLog,
        hmac_keys: HmacKeys,
        clock: Callable[[], datetime] = utcnow,
    ):
        self._db = db
        self._idle = timedelta(minutes=idle_minutes)
        self._audit = audit
        self._keys = hmac_keys
        self._clock = clock
        # Verified against when the e-mail is unknown, so both cases cost the same time.
        self._dummy_hash = PASSWORD_HASHER.hash(secrets.token_urlsafe(16))

    # --- accounts ------------------------------------------------------------------------------

    async def create_user(
        self, email: str, password: str, role: Role, display_name: str | None = None, *, must_change: bool = False
    ) -> User:
        email = email.strip().lower()
        if not EMAIL.fullmatch(email):
            raise InvalidInput("That is not an e-mail address.")
        if role not in ROLES:
            raise InvalidInput("Role must be agent or admin.")
        check_password_strength(password)
        user = User(
            id="u" + secrets.token_hex(12),
            email=email,
            role=role,
            password_hash=await asyncio.to_thread(PASSWORD_HASHER.hash, password),
            created_at=self._clock(),
            display_name=display_name,
            must_change_password=must_change,
        )
        await self._db.users.insert(user)
        return user

    # --- login ---------------------------------------------------------------------------------

    def _throttle_keys(self, email: str, address: str | None) -> tuple[str, str | None]:
        account = "acct:" + self._keys.mac("blind_index", b"login:" + email.encode())
        ip = None if not address else "addr:" + self._keys.mac("blind_index", b"login-ip:" + address.encode())
        return account, ip

    async def login(self, email: str, password: str, address: str | None = None) -> LoggedIn:
        """Check the password; answers are the same for unknown accounts and wrong passwords."""
        email = email.strip().lower()
        now = self._clock()
        account_key, address_key = self._throttle_keys(email, address)
        keys = [account_key] + ([address_key] if address_key else [])
        blocked = await self._db.throttle.blocked_until(keys)
        if blocked is not None and blocked > now:
            raise TooManyAttempts(retry_after=max(1, int((blocked - now).total_seconds()) + 1))

        user = await self._db.users.by_email(email)
        ok = await asyncio.to_thread(self._verify, user.password_hash if user else self._dummy_hash, password)
        if user is None or not ok or user.disabled:
            await self._record_failure(account_key, FREE_FAILURES_PER_ACCOUNT, now)
            if address_key:
                await self._record_failure(address_key, FREE_FAILURES_PER_ADDRESS, now)
            raise InvalidCredentials()
        await self._db.throttle.clear(account_key)
        if PASSWORD_HASHER.check_needs_rehash(user.password_hash):
            new_hash = await asyncio.to_thread(PASSWORD_HASHER.hash, password)
            await self._db.users.set_password_hash(user.id, new_hash, must_change=user.must_change_password)
        secret, csrf = new_secret(), new_secret()
        await self._db.sessions.insert(Session(hash_token(secret), user.id, now, now, hash_token(csrf)))
        return LoggedIn(user, secret, csrf)

    async def _record_failure(self, key: str, free: int, now: datetime) -> None:
        failures = await self._db.throttle.record_failure(key, now)
        wait = _block_for(failures, free)
        if wait is not None:
            await self._db.throttle.block(key, now + wait)

    @staticmethod
    def _verify(password_hash: str, password: str) -> bool:
        try:
            return PASSWORD_HASHER.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def authenticate(self, secret: str | None, *, allow_password_change: bool = False) -> Authenticated:
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
        if user.must_change_password and not allow_password_change:
            raise PasswordChangeRequired()
        if now - session.last_seen_at >= TOUCH_EVERY:
            await self._db.sessions.touch(id_hash, now)
        return Authenticated(user, id_hash, session.csrf_hash)

    async def logout(self, secret: str | None) -> None:
        if secret and len(secret) <= 100:
            await self._db.sessions.delete(hash_token(secret))

    async def change_password(self, who: Authenticated, current: str, new: str) -> None:
        ok = await asyncio.to_thread(self._verify, who.user.password_hash, current)
        if not ok:
            raise InvalidCredentials("The current password is wrong.")
        check_password_strength(new)
        if new == current:
            raise InvalidInput("Choose a password different from the current one.")
        await self._db.users.set_password_hash(who.user.id, await asyncio.to_thread(PASSWORD_HASHER.hash, new))
        # Other sessions (perhaps someone else's) end; this one stays.
        await self._db.sessions.delete_for_user(who.user.id, keep=who.session_hash)
        await self._audit.record(who.user.id, "user.password_changed", target_type="user", target_id=who.user.id)

    # --- administration ------------------------------------------------------------------------

    async def admin_create(self, admin: User, email: str, role: Role, display_name: str | None) -> tuple[User, str]:
        """Create an account with a one-time password the user must change at first login."""
        temporary = new_secret(12)
        user = await self.create_user(email, temporary, role, display_name, must_change=True)
        await self._audit.record(
            admin.id, "user.created", target_type="user", target_id=user.id, details={"role": role}
        )
        return user, temporary

    async def admin_update(self, admin: User, user_id: str, changes: dict[str, Any]) -> User:
        target = await self._db.users.by_id(user_id)
        if target is None:
            raise NotFound("No such user.")
        demoting = changes.get("role") == "agent" or changes.get("disabled") is True
        if target.role == "admin" and demoting and await self._db.users.count_active_admins() <= 1:
            raise Conflict("The last active admin cannot be demoted or disabled.")
        updated = await self._db.users.update(user_id, changes)
        assert updated is not None
        if changes.get("disabled") is True:
            await self._db.sessions.delete_for_user(user_id)
        await self._audit.record(
            admin.id,
            "user.updated",
            target_type="user",
            target_id=user_id,
            details={k: v for k, v in changes.items() if k in ("role", "disabled")},
        )
        return updated

    async def admin_reset_password(self, admin: User, user_id: str) -> str:
        if await self._db.users.by_id(user_id) is None:
            raise NotFound("No such user.")
        temporary = new_secret(12)
        new_hash = await asyncio.to_thread(PASSWORD_HASHER.hash, temporary)
        await self._db.users.set_password_hash(user_id, new_hash, must_change=True)
        await self._db.sessions.delete_for_user(user_id)
        await self._audit.record(admin.id, "user.password_reset", target_type="user", target_id=user_id)
        return temporary
