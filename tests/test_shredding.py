"""Crypto-shredding reaches every copy: the oplog, the storage engine's files and journal, backups.

The embedded SecantusDB is started exactly as the product starts it (`start_embedded`). After an
erasure and a pseudonymisation, `chat-retention run` is advanced with `--now` past the shredding
window plus one rotation period; then every byte the database keeps (every document of every
database, `local.oplog.rs` included, and the raw files under its data folder) is searched for
anything the key ring that remains can decrypt.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bson
import pymongo

from chat_service.crypto import DataKey, FieldRef, KeyRing, WrappedKey
from chat_service.embedded import start_embedded
from chat_service.errors import DecryptionFailed
from tests.retention_helpers import NOW, RetentionEnv, Visitor, days_ago

ERASED = Visitor(name="Zebediah Quaxwell", email="zebediah.quaxwell@voorbeeld.nl")
ERASED_TEXTS = ["Mijn code is ZQX-ERASED-7731, groet Zebediah Quaxwell"]
ERASED_CANARIES = {"Zebediah", "Quaxwell", "ZQX-ERASED-7731"}
KEPT = Visitor(name="Keptje Canarius", email="keptje.canarius@voorbeeld.nl")
KEPT_TEXTS = ["Hallo, ik ben Keptje Canarius", "Terugstorten op NL91ABNA0417164300 graag"]
KEPT_CANARIES = {"Keptje", "Canarius", "NL91ABNA0417164300"}
VISITOR_FIELDS = ("name", "email", "ip", "user_agent", "page_url", "language")
# Every BSON binary value (type 0x05, any field name, generic subtype), wherever it sits: documents
# and oplog entries as the server returns them, and the raw WiredTiger files (stored uncompressed).
BSON_BINARY = re.compile(rb"\x05[^\x00]{1,100}\x00(.{4})\x00", re.DOTALL)


def _binaries(blobs: Iterable[bytes]) -> set[bytes]:
    found = set()
    for blob in blobs:
        for match in BSON_BINARY.finditer(blob):
            length = int.from_bytes(match.group(1), "little")
            if 29 <= length <= 100_000:
                found.add(blob[match.end() : match.end() + length])
    return found


def _everything(uri: str, storage: Path) -> list[bytes]:
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(uri)
    blobs = [
        bson.encode(doc)
        for name in client.list_database_names()
        for coll in client[name].list_collection_names()
        for doc in client[name][coll].find()
    ]
    client.close()
    assert blobs, "no documents read"
    blobs.extend(path.read_bytes() for path in sorted(storage.rglob("*")) if path.is_file())
    return blobs


def _readable(blobs: list[bytes], ring: KeyRing, owners: list[str], refs: list[FieldRef]) -> set[str]:
    """Every plaintext that any key the ring still holds can reach from these bytes."""
    binaries = _binaries(blobs)
    data_keys: list[DataKey] = []
    for blob in (b for b in binaries if len(b) == 61 and b[0] == 1):
        for owner in owners:
            for key_id in ring.key_ids:  # every remaining master key, whatever the stored label says
                try:
                    data_keys.append(ring.unwrap(owner, WrappedKey(key_id, blob)))
                except DecryptionFailed:
                    continue
    plain = set()
    for blob in binaries:
        for key in data_keys:
            for ref in refs:
                try:
                    plain.add(key.decrypt(ref, blob))
                except DecryptionFailed:
                    continue
    return plain


def _canaries_in(plaintexts: set[str], canaries: set[str]) -> set[str]:
    return {c for c in canaries if any(c in text for text in plaintexts)}


def _ring(renv: RetentionEnv) -> KeyRing:
    return KeyRing.from_json(renv.master_keys.read_text())


async def test_no_canary_is_decryptable_from_any_stored_byte_after_window_and_rotation(tmp_path: Path) -> None:
    embedded = await start_embedded(tmp_path / "var")
    try:
        renv = RetentionEnv(embedded.uri, tmp_path / "retention")
        async with renv.open() as (_, seed):
            erased = await seed.conversation(days_ago(1), ERASED_TEXTS, visitor=ERASED)
            kept = await seed.conversation(days_ago(1), KEPT_TEXTS, visitor=KEPT)
        owners = [erased, kept]
        refs = [FieldRef("messages", doc["_id"], "text") for doc in renv.raw().messages.find()]
        refs += [FieldRef("conversations", c, f"visitor.{f}") for c in owners for f in VISITOR_FIELDS]

        erase = renv.privacy("erase", "--conversation", erased, "--yes")
        assert erase.returncode == 0, erase.stderr
        promised = re.search(r"erasure complete everywhere .* by (\d{4}-\d{2}-\d{2})", erase.stdout)
        assert promised is not None, erase.stdout
        # A key ring without dates counts as created today: window 30 + rotation 7 (+ 2 days of daily runs).
        today = datetime.now(UTC).date()
        assert datetime.fromisoformat(promised.group(1)).date() == today + timedelta(days=39)

        # Day 0: the first epoch step. The erased conversation's key still sits in the oplog or the
        # database files, wrapped under the master key now retired but kept for the window: readable.
        first = renv.run_json("run", "--now", NOW.isoformat())
        assert first["keys"]["rotated_to"] and first["keys"]["destroyed"] == []
        assert "k1" in _ring(renv).key_ids
        readable = _readable(_everything(embedded.uri, embedded.storage_path), _ring(renv), owners, refs)
        assert _canaries_in(readable, ERASED_CANARIES) == ERASED_CANARIES
        assert _canaries_in(readable, KEPT_CANARIES) == KEPT_CANARIES

        # Day 31: the kept conversation is pseudonymised (re-keyed); k1 (retired day 0) is destroyed,
        # so the erased conversation is gone everywhere. The kept conversation's old key was re-wrapped
        # under the master key active on day 0, which the window still protects.
        second = renv.run_json("run", "--now", (NOW + timedelta(days=31)).isoformat())
        assert second["policies"]["pseudonymise-30d"]["done"] == 1
        assert second["keys"]["destroyed"] == ["k1"]
        readable = _readable(_everything(embedded.uri, embedded.storage_path), _ring(renv), owners, refs)
        assert _canaries_in(readable, ERASED_CANARIES) == set()
        assert _canaries_in(readable, KEPT_CANARIES) == KEPT_CANARIES

        # Day 62: past the window and a rotation after the pseudonymisation too.
        third = renv.run_json("run", "--now", (NOW + timedelta(days=62)).isoformat())
        assert third["keys"]["destroyed"] == [first["keys"]["rotated_to"]]
        readable = _readable(_everything(embedded.uri, embedded.storage_path), _ring(renv), owners, refs)
        assert _canaries_in(readable, ERASED_CANARIES | KEPT_CANARIES) == set()
        # ... while what is kept stays readable, redacted, under the keys that remain.
        assert "Hallo, ik ben [name]" in readable and "Terugstorten op [iban] graag" in readable

        ring = json.loads(renv.master_keys.read_text())
        assert len(ring["keys"]) == 2 and all(e["created_at"] for e in ring["epochs"].values())
        assert renv.master_keys.stat().st_mode & 0o777 == 0o600
        assert [p.name for p in renv.master_keys.parent.iterdir() if p.name.endswith(".tmp")] == []
    finally:
        await embedded.stop()


async def test_the_embedded_oplog_is_kept_as_short_as_secantusdb_allows(tmp_path: Path) -> None:
    """Dev keeps few old copies: 1,500 writes leave at most ~1,000 oplog entries (1,501 with the
    database's defaults of one hour and 100,000 entries)."""
    embedded = await start_embedded(tmp_path / "var")
    try:
        client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(embedded.uri)
        try:
            for i in range(1_500):
                client.probe.items.insert_one({"i": i})
            assert client.local["oplog.rs"].count_documents({}) <= 1_000
        finally:
            client.close()
    finally:
        await embedded.stop()
