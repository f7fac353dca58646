"""Envelope encryption: authenticated, bound to record and field, rotatable."""

from __future__ import annotations

from pathlib import Path

import pytest

from chat_service.crypto import FieldRef, KeyRing, KeyRingError, load_key_ring
from chat_service.errors import DecryptionFailed

REF = FieldRef("messages", "m1", "text")


def test_round_trip_and_fresh_nonce() -> None:
    key, _ = KeyRing.generate().new_data_key("c1")
    first, second = key.encrypt(REF, "hallo"), key.encrypt(REF, "hallo")
    assert first != second
    assert key.decrypt(REF, first) == "hallo"


@pytest.mark.parametrize(
    "other",
    [
        FieldRef("messages", "m2", "text"),  # another document
        FieldRef("messages", "m1", "visitor.name"),  # another field
        FieldRef("conversations", "m1", "text"),  # another collection
    ],
)
def test_ciphertext_moved_elsewhere_fails(other: FieldRef) -> None:
    key, _ = KeyRing.generate().new_data_key("c1")
    with pytest.raises(DecryptionFailed):
        key.decrypt(other, key.encrypt(REF, "secret"))


def test_tampered_ciphertext_fails() -> None:
    key, _ = KeyRing.generate().new_data_key("c1")
    blob = bytearray(key.encrypt(REF, "secret"))
    blob[-1] ^= 1
    with pytest.raises(DecryptionFailed):
        key.decrypt(REF, bytes(blob))


def test_other_conversations_key_fails() -> None:
    ring = KeyRing.generate()
    key_a, _ = ring.new_data_key("a")
    key_b, _ = ring.new_data_key("b")
    with pytest.raises(DecryptionFailed):
        key_b.decrypt(REF, key_a.encrypt(REF, "secret"))


def test_wrapped_key_is_bound_to_its_owner() -> None:
    ring = KeyRing.generate()
    _, wrapped = ring.new_data_key("a")
    with pytest.raises(DecryptionFailed):
        ring.unwrap("b", wrapped)


def test_rewrap_keeps_data_readable_and_old_key_can_go() -> None:
    ring = KeyRing.generate()
    key, wrapped = ring.new_data_key("c1")
    blob = key.encrypt(REF, "old message")
    rotated = ring.with_new_key()
    rewrapped = rotated.rewrap("c1", wrapped)
    assert rewrapped.master_key_id == rotated.active_id != wrapped.master_key_id
    only_new = KeyRing.from_json(rotated.to_json().replace(wrapped.master_key_id, "gone"))
    assert only_new.unwrap("c1", rewrapped).decrypt(REF, blob) == "old message"


def test_reprs_do_not_show_keys() -> None:
    ring = KeyRing.generate()
    key, _ = ring.new_data_key("c1")
    assert "hidden" in repr(key)
    assert ring.to_json().split('"keys"')[1][:60] not in repr(ring)


def test_key_ring_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    ring, generated = load_key_ring(path, None, create=True)
    assert generated
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_key_ring(path, None)[0].active_id == ring.active_id
    path.chmod(0o644)
    with pytest.raises(KeyRingError, match="chmod 600"):
        load_key_ring(path, None)


@pytest.mark.parametrize("spec", ["nocolon", "k1:not-base64!", "k1:c2hvcnQ="])
def test_bad_key_spec_is_refused(spec: str) -> None:
    with pytest.raises(KeyRingError):
        KeyRing.from_spec(spec)
