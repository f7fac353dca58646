"""Staff accounts: argon2id passwords, throttled login, an optional TOTP second factor, sessions
with idle and absolute expiry and CSRF tokens, and the admin operations on users (each audited)."""

from __future__ import annotations

import asyncio
import hmac
import re
import secrets
from collections.abc import Awaitable, Callable
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
    InvalidSecondFactor,
    NotFound,
    PasswordChangeRequired,
    SecondFactorRequired,
    SecondFactorSetupRequired,
    Unauthenticated,
)
from chat_service.login_throttle import LoginThrottle
from chat_service.models import Role, Session, User
from chat_service.second_factor import SecondFactor
from chat_service.storage import Database
from chat_service.validation import EMAIL

# OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1 (minimum recommendation).
PASSWORD_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
# Touch a session's last-seen time at most this often, not on every event.
TOUCH_EVERY = timedelta(minutes=1)
# A signed-in password with a second factor still owed: this long to enter the code, this many tries.
PENDING_LIFETIME = timedelta(minutes=5)
SECOND_FACTOR_TRIES = 5
ROLES: tuple[Role, ...] = ("agent", "admin")
CloseSockets = Callable[[list[str]], Awaitable[None]]


async def _no_sockets(sids: list[str]) -> None:
    return None


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iOS"), ("Windows", "Windows"), ("Mac OS X", "macOS"))


def client_family(user_agent: str | None) -> str:
    """A coarse label for the sessions list ("Firefox on Linux"): never the full User-Agent."""
    ua = user_agent or ""
    browser = next((name for token, name in _BROWSERS if token in ua), "Other browser")
    system = next((name for token, name in _SYSTEMS if token in ua), "Linux" if re.search(r"Linux|X11", ua) else "")
    return f"{browser} on {system}" if system else browser


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
    # True: the session only lets the holder send the second factor (POST /api/session/second-factor).
    second_factor_required: bool = False


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"Passwords need at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput("That password is too long.")


class Accounts:
    def __init__(
        self,
        db: Database,
        *,
        idle_minutes: int,
        audit: AuditLog,
        hmac_keys: HmacKeys,
        max_days: int = 7,
        require_2fa_for_admins: bool = False,
        close_sockets: CloseSockets = _no_sockets,
        clock: Callable[[], datetime] = utcnow,
    ):
        self._db = db
        self._idle = timedelta(minutes=idle_minutes)
        self._lifetime = timedelta(days=max_days)
        self._require_2fa_for_admins = require_2fa_for_admins
        self._audit = audit
        self._keys = hmac_keys
        self._clock = clock
        self._throttle = LoginThrottle(db, hmac_keys)
        self._close_sockets = close_sockets
        self.second_factor = SecondFactor(db, hmac_keys, audit, clock=clock)
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

    async def login(
        self, email: str, password: str, address: str | None = None, user_agent: str | None = None
    ) -> LoggedIn:
        """Check the password; answers are the same for unknown accounts and wrong passwords."""
        email = email.strip().lower()
        now = self._clock()
        attempt = await self._throttle.count(email, address, now)
        user = await self._db.users.by_email(email)
        ok = await asyncio.to_thread(self._verify, user.password_hash if user else self._dummy_hash, password)
        if user is None or not ok or user.disabled:
            await self._audit.record(
                user.id if user else "unknown",
                "session.sign_in_failed",
                target_type="user",
                target_id=user.id if user else None,
                details={"account": self._keys.pseudonym("login:" + email)},
            )
            raise InvalidCredentials()
        await self._throttle.succeeded(attempt)
        if PASSWORD_HASHER.check_needs_rehash(user.password_hash):
            new_hash = await asyncio.to_thread(PASSWORD_HASHER.hash, password)
            await self._db.users.set_password_hash(user.id, new_hash, must_change=user.must_change_password)
        if user.totp_enabled:
            return await self._new_session(user, now, client_family(user_agent), pending=True)
        logged_in = await self._new_session(user, now, client_family(user_agent))
        await self._audit.record(user.id, "session.signed_in", target_type="user", target_id=user.id)
        return logged_in

    async def _new_session(self, user: User, now: datetime, client: str, *, pending: bool = False) -> LoggedIn:
        secret, csrf = new_secret(), new_secret()
        session = Session(
            hash_token(secret),
            user.id,
            now,
            now,
            hash_token(csrf),
            public_id=secrets.token_hex(8),
            expires_at=now + (PENDING_LIFETIME if pending else self._lifetime),
            client=client,
            pending_second_factor=pending,
        )
        await self._db.sessions.insert(session)
        return LoggedIn(user, secret, csrf, second_factor_required=pending)

    async def complete_second_factor(self, secret: str | None, code: str) -> LoggedIn:
        """Trade a pending session and a TOTP or recovery code for a full session (a new secret)."""
        if not secret or len(secret) > 100:
            raise Unauthenticated()
        id_hash = hash_token(secret)
        session = await self._db.sessions.get(id_hash)
        now = self._clock()
        if session is None or not session.pending_second_factor or self._expired(session, now):
            raise Unauthenticated("Sign in again.")
        if await self._db.sessions.count_second_factor_try(id_hash) > SECOND_FACTOR_TRIES:
            await self._db.sessions.delete(id_hash)
            raise Unauthenticated("Too many wrong codes; sign in again.")
        user = await self._db.users.by_id(session.user_id)
        if user is None or user.disabled:
            raise Unauthenticated()
        # Each pending session gets few tries, and the account few per window across all of them.
        await self._throttle.count_second_factor(user.id, now)
        used = await self.second_factor.verify(user.id, code)
        if used is None:
            await self._audit.record(user.id, "session.second_factor_failed", target_type="user", target_id=user.id)
            raise InvalidSecondFactor()
        await self._db.sessions.delete(id_hash)
        logged_in = await self._new_session(user, now, session.client)
        await self._audit.record(
            user.id, "session.signed_in", target_type="user", target_id=user.id, details={"second_factor": used}
        )
        return logged_in

    @staticmethod
    def _verify(password_hash: str, password: str) -> bool:
        try:
            return PASSWORD_HASHER.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def _expired(self, session: Session, now: datetime) -> bool:
        """Idle too long, or past its absolute lifetime (whichever comes first)."""
        ends = session.expires_at or session.created_at + self._lifetime
        return session.last_seen_at + self._idle <= now or min(ends, session.created_at + self._lifetime) <= now

    async def authenticate(self, secret: str | None, *, allow_password_change: bool = False) -> Authenticated:
        """Resolve a session cookie to an active user, or raise `Unauthenticated`."""
        if not secret or len(secret) > 100:
            raise Unauthenticated()
        return await self.authenticate_hash(hash_token(secret), allow_setup=allow_password_change)

    async def authenticate_hash(self, id_hash: str, *, allow_setup: bool = False, touch: bool = True) -> Authenticated:
        """The session behind `id_hash`, checked against the database (the truth), or raise.

        `allow_setup`: a session that must first change its password or enrol a second factor
        may still reach the routes that do that.
        """
        session = await self._db.sessions.get(id_hash)
        now = self._clock()
        if session is None:
            raise Unauthenticated()
        if session.pending_second_factor:
            raise SecondFactorRequired()
        if self._expired(session, now):
            await self.end_session(id_hash)
            raise Unauthenticated("Your session expired; sign in again.")
        user = await self._db.users.by_id(session.user_id)
        if user is None or user.disabled:
            raise Unauthenticated()
        if user.must_change_password and not allow_setup:
            raise PasswordChangeRequired()
        if self.second_factor_missing(user) and not allow_setup:
            raise SecondFactorSetupRequired()
        if touch and now - session.last_seen_at >= TOUCH_EVERY:
            await self._db.sessions.touch(id_hash, now)
        return Authenticated(user, id_hash, session.csrf_hash)

    def second_factor_missing(self, user: User) -> bool:
        return self._require_2fa_for_admins and user.role == "admin" and not user.totp_enabled

    async def valid_sessions(self, id_hashes: list[str]) -> set[str]:
        """Which of these sessions exist and have not expired (without touching them)."""
        now = self._clock()
        found = await self._db.sessions.many(id_hashes)
        return {h for h, s in found.items() if not s.pending_second_factor and not self._expired(s, now)}

    async def end_session(self, id_hash: str) -> None:
        """Delete the session and close every socket opened with it, on every node."""
        await self._close_sockets(await self._db.sessions.delete(id_hash))

    async def logout(self, who: Authenticated) -> None:
        await self.end_session(who.session_hash)
        await self._audit.record(who.user.id, "session.signed_out", target_type="user", target_id=who.user.id)

    async def sessions_of(self, who: Authenticated) -> list[tuple[Session, bool]]:
        """One's own live sessions, each with whether it is the one asking."""
        now = self._clock()
        return [
            (s, s.id_hash == who.session_hash)
            for s in await self._db.sessions.of_user(who.user.id)
            if not s.pending_second_factor and not self._expired(s, now)
        ]

    async def end_own_session(self, who: Authenticated, public_id: str) -> None:
        sockets = await self._db.sessions.delete_public(who.user.id, public_id)
        if sockets is None:
            raise NotFound("No such session.")
        await self._close_sockets(sockets)
        await self._audit.record(who.user.id, "session.signed_out", target_type="user", target_id=who.user.id)

    async def end_all_sessions(self, who: Authenticated) -> None:
        """Sign out everywhere, this session included."""
        await self._close_sockets(await self._db.sessions.delete_for_user(who.user.id))
        await self._audit.record(
            who.user.id, "session.signed_out", target_type="user", target_id=who.user.id, details={"everywhere": True}
        )

    async def change_password(self, who: Authenticated, current: str, new: str) -> None:
        ok = await asyncio.to_thread(self._verify, who.user.password_hash, current)
        if not ok:
            raise InvalidCredentials("The current password is wrong.")
        check_password_strength(new)
        if new == current:
            raise InvalidInput("Choose a password different from the current one.")
        await self._db.users.set_password_hash(who.user.id, await asyncio.to_thread(PASSWORD_HASHER.hash, new))
        # Other sessions (perhaps someone else's) end, with their sockets; this one stays.
        await self._close_sockets(await self._db.sessions.delete_for_user(who.user.id, keep=who.session_hash))
        await self._audit.record(who.user.id, "user.password_changed", target_type="user", target_id=who.user.id)

    async def check_password(self, who: Authenticated, password: str) -> None:
        """Re-authentication for sensitive changes (turning the second factor off)."""
        if not await asyncio.to_thread(self._verify, who.user.password_hash, password):
            raise InvalidCredentials("The current password is wrong.")

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
            await self._close_sockets(await self._db.sessions.delete_for_user(user_id))
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
        await self._close_sockets(await self._db.sessions.delete_for_user(user_id))
        await self._audit.record(admin.id, "user.password_reset", target_type="user", target_id=user_id)
        return temporary
