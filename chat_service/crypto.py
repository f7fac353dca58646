"""Envelope encryption: the only module that touches keys.

Each conversation has its own 256-bit data key. Data keys are wrapped (AES-256-GCM) by a master
key from the key ring; the wrapped key is stored with the id of the master key that wrapped it so
`keys rotate` can re-wrap without touching messages. Every field ciphertext is bound by its
associated data to (collection, document id, field): a ciphertext copied to another document or
field does not authenticate. Destroying a data key makes its ciphertexts unreadable wherever the
database keeps it; copies of the *wrapped* key (the oplog, the storage engine's journal, backups)
become unreadable once the master key that wrapped them is destroyed too. Master keys therefore
live in epochs: each records when it was created and retired, the retention job rotates them on a
schedule and destroys those retired longer ago than the shredding window (see `KeyRing.rotated`,
`KeyRing.without_expired` and docs/privacy.md).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chat_service.errors import DecryptionFailed

_FORMAT_V1 = b"\x01"
_NONCE_BYTES = 12
_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class KeyRingError(Exception):
    """The master key ring is missing, unreadable or malformed."""


class UnsafePath(Exception):
    """A private file would be written through a symlink or over a file it must not replace."""


@dataclass(frozen=True)
class FieldRef:
    """What a ciphertext belongs to; becomes the AES-GCM associated data."""

    collection: str
    doc_id: str
    field: str

    def aad(self) -> bytes:
        return f"chat-service/v1/{self.collection}/{self.doc_id}/{self.field}".encode()


@dataclass(frozen=True)
class WrappedKey:
    """A data key encrypted under a master key; safe to store."""

    master_key_id: str
    ciphertext: bytes


class DataKey:
    """An unwrapped per-conversation key. Opaque to callers: they can only encrypt and decrypt."""

    __slots__ = ("_aead",)

    def __init__(self, raw: bytes):
        if len(raw) != 32:
            raise ValueError("data keys are 256-bit")
        self._aead = AESGCM(raw)

    def __repr__(self) -> str:
        return "DataKey(<hidden>)"

    def encrypt(self, ref: FieldRef, plaintext: str) -> bytes:
        return self.encrypt_bytes(ref, plaintext.encode())

    def decrypt(self, ref: FieldRef, blob: bytes) -> str:
        try:
            return self.decrypt_bytes(ref, blob).decode()
        except UnicodeDecodeError as exc:
            raise DecryptionFailed() from exc

    def encrypt_bytes(self, ref: FieldRef, data: bytes) -> bytes:
        """Binary data (a chunk of an attached file), bound to `ref` like a text field."""
        nonce = os.urandom(_NONCE_BYTES)
        return _FORMAT_V1 + nonce + self._aead.encrypt(nonce, data, ref.aad())

    def decrypt_bytes(self, ref: FieldRef, blob: bytes) -> bytes:
        if len(blob) < 1 + _NONCE_BYTES + 16 or blob[:1] != _FORMAT_V1:
            raise DecryptionFailed()
        nonce, body = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, ref.aad())
        except InvalidTag as exc:
            raise DecryptionFailed() from exc


@dataclass(frozen=True)
class KeyEpoch:
    """When a master key began wrapping new data keys and when it stopped (None: unknown / still active)."""

    created_at: datetime | None = None
    retired_at: datetime | None = None


class KeyRing:
    """Master keys by id, one of them active for wrapping new data keys, each with its epoch."""

    def __init__(self, keys: dict[str, bytes], active_id: str, epochs: dict[str, KeyEpoch] | None = None):
        if active_id not in keys:
            raise KeyRingError("the active master key id is not in the key ring")
        for key_id, key in keys.items():
            if not _KEY_ID.fullmatch(key_id):
                raise KeyRingError(f"master key id {key_id!r} is not valid")
            if len(key) != 32:
                raise KeyRingError(f"master key {key_id!r} is not 256 bits")
        self._keys = dict(keys)
        self.active_id = active_id
        self._epochs = {key_id: (epochs or {}).get(key_id, KeyEpoch()) for key_id in keys}

    def __repr__(self) -> str:
        return f"KeyRing(ids={sorted(self._keys)}, active={self.active_id!r})"

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._keys)

    def has(self, key_id: str) -> bool:
        return key_id in self._keys

    def epoch(self, key_id: str) -> KeyEpoch:
        return self._epochs[key_id]

    def with_new_key(self, now: datetime | None = None) -> KeyRing:
        """A ring with a new active key; every other key not yet retired is retired at `now`."""
        key_id = f"mk-{secrets.token_hex(4)}"
        keys = dict(self._keys)
        keys[key_id] = AESGCM.generate_key(bit_length=256)
        epochs = dict(self._epochs)
        if now is not None:
            for old_id, epoch in epochs.items():
                if epoch.retired_at is None:
                    epochs[old_id] = KeyEpoch(epoch.created_at, now)
        epochs[key_id] = KeyEpoch(now, None)
        return KeyRing(keys, key_id, epochs)

    def rotation_due(self, now: datetime, period: timedelta) -> bool:
        """The active key is older than `period` (or its age is unknown)."""
        created = self._epochs[self.active_id].created_at
        return created is None or created + period <= now

    def expired(self, now: datetime, window: timedelta) -> list[str]:
        """Keys retired at least `window` ago: every copy of anything they wrapped has aged out."""
        return sorted(
            key_id
            for key_id, epoch in self._epochs.items()
            if key_id != self.active_id and epoch.retired_at is not None and epoch.retired_at + window <= now
        )

    def without(self, key_ids: list[str]) -> KeyRing:
        """The ring with these keys destroyed (never the active one)."""
        if self.active_id in key_ids:
            raise KeyRingError("the active master key cannot be destroyed")
        keep = {k: v for k, v in self._keys.items() if k not in key_ids}
        return KeyRing(keep, self.active_id, {k: self._epochs[k] for k in keep})

    def overdue(self, now: datetime, window: timedelta, period: timedelta) -> list[str]:
        """Why this ring holds keys longer than the shredding promise allows, one line per key."""
        problems = []
        for key_id, epoch in sorted(self._epochs.items()):
            if epoch.created_at is None:
                problems.append(f"master key {key_id} has no creation date (its age is unknown)")
            elif key_id == self.active_id and epoch.created_at + period + window <= now:
                problems.append(f"master key {key_id} is active since {epoch.created_at:%Y-%m-%d}, past the window")
            elif key_id != self.active_id and epoch.retired_at is not None and epoch.retired_at + window <= now:
                problems.append(
                    f"master key {key_id} was retired {epoch.retired_at:%Y-%m-%d}, more than the window ago"
                )
        return problems

    def erasure_complete_by(self, now: datetime, window: timedelta, period: timedelta) -> datetime:
        """When no copy of a data key destroyed `now` can be unwrapped any more.

        The key was last wrapped under the active master key, which is retired at its next rotation
        and destroyed one window later; a daily retention run adds up to a day to each step.
        """
        created = self._epochs[self.active_id].created_at or now
        return max(created + period, now) + window + timedelta(days=2)

    def _aead(self, key_id: str) -> AESGCM:
        try:
            return AESGCM(self._keys[key_id])
        except KeyError:
            raise DecryptionFailed(f"master key {key_id!r} is not in the key ring") from None

    @staticmethod
    def _wrap_aad(owner_id: str) -> bytes:
        return f"chat-service/v1/data_keys/{owner_id}".encode()

    def new_data_key(self, owner_id: str) -> tuple[DataKey, WrappedKey]:
        raw = AESGCM.generate_key(bit_length=256)
        return DataKey(raw), self._wrap(owner_id, raw)

    def _wrap(self, owner_id: str, raw: bytes) -> WrappedKey:
        nonce = os.urandom(_NONCE_BYTES)
        body = self._aead(self.active_id).encrypt(nonce, raw, self._wrap_aad(owner_id))
        return WrappedKey(self.active_id, _FORMAT_V1 + nonce + body)

    def _unwrap_raw(self, owner_id: str, wrapped: WrappedKey) -> bytes:
        blob = wrapped.ciphertext
        if len(blob) < 1 + _NONCE_BYTES + 16 or blob[:1] != _FORMAT_V1:
            raise DecryptionFailed()
        nonce, body = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            return self._aead(wrapped.master_key_id).decrypt(nonce, body, self._wrap_aad(owner_id))
        except InvalidTag as exc:
            raise DecryptionFailed() from exc

    def unwrap(self, owner_id: str, wrapped: WrappedKey) -> DataKey:
        return DataKey(self._unwrap_raw(owner_id, wrapped))

    def rewrap(self, owner_id: str, wrapped: WrappedKey) -> WrappedKey:
        """The same data key, wrapped under the active master key."""
        return self._wrap(owner_id, self._unwrap_raw(owner_id, wrapped))

    # --- persistence -------------------------------------------------------------------------

    def to_json(self) -> str:
        return json.dumps(
            {
                "active": self.active_id,
                "keys": {k: base64.b64encode(v).decode() for k, v in self._keys.items()},
                "epochs": {
                    k: {"created_at": _iso(e.created_at), "retired_at": _iso(e.retired_at)}
                    for k, e in self._epochs.items()
                },
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> KeyRing:
        try:
            doc = json.loads(text)
            keys = {str(k): base64.b64decode(v, validate=True) for k, v in doc["keys"].items()}
            epochs = {
                str(k): KeyEpoch(_parse_iso(e.get("created_at")), _parse_iso(e.get("retired_at")))
                for k, e in doc.get("epochs", {}).items()
            }
            return cls(keys, str(doc["active"]), epochs)
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise KeyRingError(f"key ring is malformed: {type(exc).__name__}") from None

    @classmethod
    def from_spec(cls, spec: str) -> KeyRing:
        """Parse `id:base64,id:base64`; the last key is the active one."""
        keys: dict[str, bytes] = {}
        last = ""
        for item in spec.split(","):
            key_id, sep, b64 = item.strip().partition(":")
            if not sep:
                raise KeyRingError("CHAT_MASTER_KEYS entries must look like id:base64")
            try:
                keys[key_id] = base64.b64decode(b64, validate=True)
            except (ValueError, binascii.Error):
                raise KeyRingError(f"master key {key_id!r} is not valid base64") from None
            last = key_id
        return cls(keys, last)

    @classmethod
    def generate(cls, now: datetime | None = None) -> KeyRing:
        key_id = f"mk-{secrets.token_hex(4)}"
        return cls({key_id: AESGCM.generate_key(bit_length=256)}, key_id, {key_id: KeyEpoch(now, None)})

    def save(self, path: Path, *, replace: bool = True) -> None:
        """Write the ring atomically; without `replace`, refuse an existing file."""
        try:
            write_private_file(path, self.to_json(), replace=replace)
        except UnsafePath as exc:
            raise KeyRingError(str(exc)) from None


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_iso(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("epoch dates must be ISO 8601 strings")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("epoch dates must carry a time zone")
    return parsed


def load_key_ring(path: Path | None, spec: str | None, *, create: bool = False) -> tuple[KeyRing, bool]:
    """Load the ring from a file or spec. With `create`, a missing file is generated.

    Returns the ring and whether it was just generated.
    """
    if spec is not None:
        return KeyRing.from_spec(spec), False
    if path is None:
        raise KeyRingError("no master key configured")
    if not path.exists():
        if not create:
            raise KeyRingError(f"key ring file {path} does not exist")
        ring = KeyRing.generate(datetime.now(UTC))
        ring.save(path, replace=False)
        return ring, True
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise KeyRingError(f"key ring file {path} must not be readable by others (chmod 600)")
    return KeyRing.from_json(path.read_text()), False


class KeyRingSource:
    """The current key ring, re-read when its file changes (after `keys rotate` on any host).

    Checking costs one `stat` and is done only when a new data key is wrapped or an unknown
    master key id is met, so new conversations are wrapped under the newest active key.
    """

    def __init__(self, path: Path | None, spec: str | None, *, create: bool = False):
        self._path = path if spec is None else None
        self._ring, self.generated = load_key_ring(path, spec, create=create)
        self._stamp = self._file_stamp()

    @property
    def path(self) -> Path | None:
        """The key ring file, or None when the keys come from CHAT_MASTER_KEYS (not writable)."""
        return self._path

    def _file_stamp(self) -> tuple[int, int, int] | None:
        if self._path is None:
            return None
        try:
            info = self._path.stat()
        except OSError:
            return None
        # The inode changes with every atomic rewrite (rename), even within one mtime tick.
        return info.st_ino, info.st_mtime_ns, info.st_size

    def replace(self, ring: KeyRing) -> None:
        """Persist a new ring (atomically) and use it from now on."""
        if self._path is None:
            raise KeyRingError("the master keys come from CHAT_MASTER_KEYS: change them there")
        ring.save(self._path)
        self._ring, self._stamp = ring, self._file_stamp()

    def current(self) -> KeyRing:
        stamp = self._file_stamp()
        if stamp is not None and stamp != self._stamp and self._path is not None:
            self._ring, _ = load_key_ring(self._path, None)
            self._stamp = stamp
        return self._ring


HMAC_PURPOSES = ("audit", "blind_index", "pseudonym")


class HmacKeys:
    """Keyed hashes with keys kept apart from the database, one key per purpose.

    - `audit`: chains audit events, so a database writer cannot forge a consistent chain;
    - `blind_index`: finds a person's conversations by e-mail without storing the address;
    - `pseudonym`: derives stable pseudonyms that only the key holder can link to a person.
    """

    def __init__(self, keys: dict[str, bytes]):
        missing = [p for p in HMAC_PURPOSES if len(keys.get(p, b"")) < 32]
        if missing:
            raise KeyRingError(f"HMAC key file lacks 256-bit keys for: {', '.join(missing)}")
        self._keys = dict(keys)

    def __repr__(self) -> str:
        return "HmacKeys(<hidden>)"

    def mac(self, purpose: str, data: bytes) -> str:
        return hmac.new(self._keys[purpose], data, hashlib.sha256).hexdigest()

    def blind_index(self, email: str) -> str:
        return self.mac("blind_index", email.strip().lower().encode())

    def pseudonym(self, value: str) -> str:
        return self.mac("pseudonym", value.encode())[:16]

    @classmethod
    def load(cls, path: Path, *, create: bool = False) -> tuple[HmacKeys, bool]:
        if not path.exists():
            if not create:
                raise KeyRingError(f"HMAC key file {path} does not exist")
            keys = {p: secrets.token_bytes(32) for p in HMAC_PURPOSES}
            text = json.dumps({p: base64.b64encode(k).decode() for p, k in keys.items()}, indent=2)
            try:
                write_private_file(path, text, replace=False)
            except UnsafePath as exc:
                raise KeyRingError(str(exc)) from None
            return cls(keys), True
        if path.stat().st_mode & 0o077:
            raise KeyRingError(f"HMAC key file {path} must not be readable by others (chmod 600)")
        try:
            doc = json.loads(path.read_text())
            return cls({str(k): base64.b64decode(v, validate=True) for k, v in doc.items()}), False
        except (ValueError, TypeError, AttributeError, binascii.Error):
            raise KeyRingError("HMAC key file is malformed") from None


def write_private_file(path: Path, text: str, *, replace: bool) -> None:
    """Write `text` to `path` atomically, readable by the owner only (mode 0600).

    The data goes to a fresh temporary file in the same folder, created with O_EXCL|O_NOFOLLOW
    (so neither a planted file nor a symlink is reused), is fsynced, renamed over `path`, and the
    folder is fsynced so the rename itself survives a crash. `path` must not be a symlink; without
    `replace` it must not exist at all.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        existing = path.lstat()
    except FileNotFoundError:
        existing = None
    if existing is not None:
        if stat.S_ISLNK(existing.st_mode):
            raise UnsafePath(f"{path} is a symbolic link: refusing to write through it")
        if not replace:
            raise UnsafePath(f"{path} already exists: refusing to overwrite it")
        if not stat.S_ISREG(existing.st_mode):
            raise UnsafePath(f"{path} is not a regular file")
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if not replace:
            # Atomic "create only if absent": link() fails if something appeared meanwhile.
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise UnsafePath(f"{path} already exists: refusing to overwrite it") from None
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DataKeyCache:
    """A bounded in-memory cache of unwrapped data keys, so hot conversations skip a round trip.

    Entries live at most `ttl_s`: the retention job, running in another process, replaces a
    pseudonymised conversation's data key, and a server must not keep using the old one.
    """

    def __init__(self, capacity: int = 10_000, ttl_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self._capacity = capacity
        self._ttl = ttl_s
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, DataKey]] = OrderedDict()

    def get(self, owner_id: str) -> DataKey | None:
        item = self._items.get(owner_id)
        if item is None:
            return None
        if item[0] <= self._clock():
            del self._items[owner_id]
            return None
        self._items.move_to_end(owner_id)
        return item[1]

    def put(self, owner_id: str, key: DataKey) -> None:
        self._items[owner_id] = (self._clock() + self._ttl, key)
        self._items.move_to_end(owner_id)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def forget(self, owner_id: str) -> None:
        self._items.pop(owner_id, None)


def hash_token(secret: str) -> str:
    """One-way hash of a bearer secret (resume tokens, session ids) for storage."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def derived_key(keys: HmacKeys, label: str) -> DataKey:
    """A data key derived from the `pseudonym` HMAC key (HMAC-SHA256 as a PRF over `label`).

    For small secrets that must stay readable across master key rotation and erasure epochs
    (a TOTP seed), yet never sit in the database in clear nor beside their key.
    """
    return DataKey(bytes.fromhex(keys.mac("pseudonym", b"chat-service/v1/derived-key/" + label.encode())))
