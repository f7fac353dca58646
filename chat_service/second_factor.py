"""TOTP second factor (RFC 6238, via pyotp): enrolment, sign-in codes without replay, and
single-use recovery codes.

The seed is encrypted (AES-GCM, bound to the user and field) under a key derived from the HMAC
key file, so it is never in the database in clear and survives master key rotation. Recovery
codes are random and stored only as hashes.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from datetime import datetime

import pyotp

from chat_service.audit import AuditLog
from chat_service.conversations import utcnow
from chat_service.crypto import FieldRef, HmacKeys, derived_key, hash_token
from chat_service.errors import Conflict, InvalidSecondFactor
from chat_service.models import User
from chat_service.storage import Database

ISSUER = "chat-service"
RECOVERY_CODES = 10
# Codes of the previous and next 30-second step are accepted (clock drift); each step only once.
DRIFT_STEPS = 1


def normalise_code(code: str) -> str:
    return "".join(ch for ch in code if ch.isalnum()).lower()


def _new_recovery_code() -> str:
    raw = secrets.token_hex(5)  # 40 bits each; ten of them, each good once
    return f"{raw[:5]}-{raw[5:]}"


class SecondFactor:
    def __init__(self, db: Database, keys: HmacKeys, audit: AuditLog, *, clock: Callable[[], datetime] = utcnow):
        self._db = db
        self._box = derived_key(keys, "totp")
        self._audit = audit
        self._clock = clock

    def _seal(self, user_id: str, field: str, seed: str) -> bytes:
        return self._box.encrypt(FieldRef("users", user_id, field), seed)

    def _open(self, user_id: str, field: str, sealed: bytes) -> pyotp.TOTP:
        return pyotp.TOTP(self._box.decrypt(FieldRef("users", user_id, field), sealed))

    def _matching_step(self, totp: pyotp.TOTP, code: str) -> int | None:
        now = self._clock()
        step = totp.timecode(now)
        for candidate in range(step - DRIFT_STEPS, step + DRIFT_STEPS + 1):
            if hmac.compare_digest(totp.generate_otp(candidate), code):
                return candidate
        return None

    async def begin_enrolment(self, user: User) -> tuple[str, str]:
        """A fresh seed, shown once: the seed and its otpauth:// URI (for any authenticator app)."""
        if user.totp_enabled:
            raise Conflict("Two-factor sign-in is already on; turn it off first to enrol again.")
        seed = pyotp.random_base32()
        # The seed is sealed to the pending field: it cannot be moved to the active one unchanged.
        await self._db.users.set_totp_pending(user.id, self._seal(user.id, "totp_pending", seed))
        uri = pyotp.TOTP(seed).provisioning_uri(name=user.email, issuer_name=ISSUER)
        return seed, uri

    async def confirm_enrolment(self, user: User, code: str) -> list[str]:
        """Turn the factor on once a code from the new seed checks; the recovery codes, shown once."""
        if user.totp_enabled:
            raise Conflict("Two-factor sign-in is already on.")
        sealed = await self._db.users.totp_secret(user.id, pending=True)
        if sealed is None:
            raise Conflict("Start the enrolment first.")
        totp = self._open(user.id, "totp_pending", sealed)
        step = self._matching_step(totp, normalise_code(code))
        if step is None:
            raise InvalidSecondFactor()
        codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
        await self._db.users.enable_totp(
            user.id, self._seal(user.id, "totp_secret", totp.secret), [hash_token(c) for c in codes], step
        )
        await self._audit.record(user.id, "user.second_factor_enabled", target_type="user", target_id=user.id)
        return codes

    async def verify(self, user_id: str, code: str) -> str | None:
        """Check a sign-in code: "totp" or "recovery" for which one passed, None if neither did."""
        code = normalise_code(code)
        if not code or len(code) > 20:
            return None
        sealed = await self._db.users.totp_secret(user_id)
        if sealed is None:
            return None
        if code.isdigit() and len(code) == 6:
            step = self._matching_step(self._open(user_id, "totp_secret", sealed), code)
            return "totp" if step is not None and await self._db.users.claim_totp_step(user_id, step) else None
        recovery = f"{code[:5]}-{code[5:]}"
        return "recovery" if await self._db.users.use_recovery_code(user_id, hash_token(recovery)) else None

    async def disable(self, actor: User, user_id: str) -> None:
        await self._db.users.disable_totp(user_id)
        await self._audit.record(actor.id, "user.second_factor_disabled", target_type="user", target_id=user_id)
