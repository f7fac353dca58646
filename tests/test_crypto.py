"""Envelope encryption: authenticated, bound to record and field, rotatable."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chat_service.crypto import (
    FieldRef,
    KeyEpoch,
    KeyRing,
    KeyRingError,
    KeyRingSource,
    UnsafePath,
    load_key_ring,
    write_private_file,
)
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


# --- master-key epochs ----------------------------------------------------------------------------

T0 = datetime(2027, 1, 1, tzinfo=UTC)
WEEK, WINDOW = timedelta(days=7), timedelta(days=30)


def test_rotation_retires_the_active_key_and_destruction_waits_for_the_window() -> None:
    ring = KeyRing.generate(T0)
    first = ring.active_id
    assert not ring.rotation_due(T0 + WEEK - timedelta(seconds=1), WEEK)
    assert ring.rotation_due(T0 + WEEK, WEEK)
    rotated = ring.with_new_key(T0 + WEEK)
    assert rotated.epoch(first) == KeyEpoch(T0, T0 + WEEK)
    assert rotated.epoch(rotated.active_id) == KeyEpoch(T0 + WEEK, None)
    assert rotated.expired(T0 + WEEK + WINDOW - timedelta(seconds=1), WINDOW) == []
    assert rotated.expired(T0 + WEEK + WINDOW, WINDOW) == [first]
    assert rotated.without([first]).key_ids == [rotated.active_id]
    with pytest.raises(KeyRingError):
        rotated.without([rotated.active_id])


def test_epochs_survive_the_file_and_a_ring_without_dates_still_loads() -> None:
    ring = KeyRing.generate(T0).with_new_key(T0 + WEEK)
    again = KeyRing.from_json(ring.to_json())
    assert [again.epoch(k) for k in again.key_ids] == [ring.epoch(k) for k in ring.key_ids]
    legacy = KeyRing.from_json(json.dumps({"active": "k1", "keys": {"k1": base64.b64encode(bytes(32)).decode()}}))
    assert legacy.epoch("k1") == KeyEpoch() and legacy.rotation_due(T0, WEEK)
    with pytest.raises(KeyRingError):
        KeyRing.from_json(ring.to_json().replace("+00:00", ""))  # a date without a zone


def test_overdue_keys_are_named() -> None:
    ring = KeyRing.generate(T0).with_new_key(T0 + WEEK)
    assert ring.overdue(T0 + WEEK + timedelta(days=29), WINDOW, WEEK) == []
    late = ring.overdue(T0 + WEEK + WINDOW, WINDOW, WEEK)
    assert len(late) == 1 and "retired 2027-01-08" in late[0]
    legacy = KeyRing.from_spec("k1:" + base64.b64encode(bytes(32)).decode())
    assert "no creation date" in legacy.overdue(T0, WINDOW, WEEK)[0]


def test_erasure_is_complete_after_the_next_rotation_and_one_window() -> None:
    ring = KeyRing.generate(T0)
    assert ring.erasure_complete_by(T0 + timedelta(days=2), WINDOW, WEEK) == T0 + WEEK + WINDOW + timedelta(days=2)
    # A rotation that is overdue happens at the next run.
    late = T0 + timedelta(days=20)
    assert ring.erasure_complete_by(late, WINDOW, WEEK) == late + WINDOW + timedelta(days=2)


# --- writing private files (key rings, exports) ---------------------------------------------------


def test_private_file_is_new_0600_and_atomic_even_with_a_lax_umask(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    old = os.umask(0)
    try:
        write_private_file(path, "one", replace=False)
        write_private_file(path, "two", replace=True)
    finally:
        os.umask(old)
    assert path.read_text() == "two" and path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys.json"]  # no temporary file left


def test_private_file_refuses_an_existing_file_unless_replacing(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text("someone else's")
    path.chmod(0o644)
    with pytest.raises(UnsafePath, match="already exists"):
        write_private_file(path, "secret", replace=False)
    assert path.read_text() == "someone else's"
    with pytest.raises(KeyRingError, match="already exists"):
        KeyRing.generate().save(path, replace=False)


@pytest.mark.parametrize("replace", [False, True])
def test_private_file_never_writes_through_a_symlink(tmp_path: Path, replace: bool) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    victim.chmod(0o644)
    link = tmp_path / "keys.json"
    link.symlink_to(victim)
    with pytest.raises(UnsafePath, match="symbolic link"):
        write_private_file(link, "secret", replace=replace)
    assert victim.read_text() == "precious" and victim.stat().st_mode & 0o777 == 0o644
    assert link.is_symlink()
    with pytest.raises(KeyRingError, match="symbolic link"):
        KeyRing.generate().save(link)


def test_a_new_key_ring_is_not_created_over_a_dangling_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "planted.json"
    link = tmp_path / "master.keys"
    link.symlink_to(target)
    with pytest.raises(KeyRingError, match="symbolic link"):
        load_key_ring(link, None, create=True)
    assert not target.exists()


def test_key_ring_source_notices_an_atomic_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "master.keys"
    source = KeyRingSource(path, None, create=True)
    rotated = source.current().with_new_key(T0)
    other = KeyRingSource(path, None)
    source.replace(rotated)
    assert other.current().active_id == rotated.active_id
