"""`chat-service privacy`: find, export, erase and breach reports, each written to the audit log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chat_service.crypto import HmacKeys
from tests.helpers import SecantusProcess, ServerProcess, call, visitor_client
from tests.retention_helpers import NOW, RetentionEnv, Visitor, days_ago

ANNA = Visitor(
    name="Anna Canary-Bakker",
    email="Anna.Bakker@Voorbeeld.nl",
    ip="198.51.100.23",
    user_agent="AnnaBrowser/1.0",
    page_url="https://shop.example.eu/p?ref=anna-secret",
)
ANNA_TEXTS = ["Mijn IBAN is NL02ABNA0123456789", "Bel 06-55554444 voor de retour"]
ANNA_CANARIES = [
    "Anna Canary-Bakker",
    "anna.bakker@voorbeeld.nl",
    "198.51.100.23",
    "AnnaBrowser/1.0",
    "anna-secret",
    *ANNA_TEXTS,
    "Tweede gesprek van Anna",
]
BOB = Visitor(name="Bob Other", email="bob@elders.nl", ip="192.0.2.99", user_agent="BobBrowser/2.0")
BOB_CANARIES = ["Bob Other", "bob@elders.nl", "192.0.2.99", "BobBrowser/2.0", "Bob zijn geheim 0687654321"]


@pytest.fixture
def renv(secantus: SecantusProcess, tmp_path: Path) -> RetentionEnv:
    return RetentionEnv(secantus.uri, tmp_path / "privacy")


async def _seed(renv: RetentionEnv) -> tuple[list[str], str]:
    async with renv.open() as (_, seed):
        anna = [
            await seed.conversation(days_ago(3), ANNA_TEXTS, visitor=ANNA, replies=("Komt goed",)),
            await seed.conversation(days_ago(1), ["Tweede gesprek van Anna"], visitor=ANNA),
        ]
        bob = await seed.conversation(days_ago(2), ["Bob zijn geheim 0687654321"], visitor=BOB)
    return anna, bob


def _audit(renv: RetentionEnv) -> list[dict[str, object]]:
    return list(renv.raw().audit_events.find().sort("_id", 1))


async def test_export_has_every_canary_of_the_person_and_none_of_anyone_else(renv: RetentionEnv) -> None:
    anna, bob = await _seed(renv)
    out = renv.workdir / "export.json"
    # The address is normalised before hashing: case and spaces do not matter.
    result = renv.privacy("export", "--email", " ANNA.bakker@voorbeeld.NL ", "--output", str(out), "--actor", "dpo-1")
    assert result.returncode == 0, result.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    text = out.read_text()
    for canary in ANNA_CANARIES:
        assert canary.lower() in text.lower(), f"{canary!r} missing from the export"
    for canary in BOB_CANARIES:
        assert canary.lower() not in text.lower()
    assert bob not in text
    export = json.loads(text)
    assert [c["id"] for c in export["conversations"]] == anna
    first = export["conversations"][0]
    assert first["visitor"]["ip"] == ANNA.ip and first["visitor"]["email"] == "anna.bakker@voorbeeld.nl"
    assert [m["sender"] for m in first["messages"]] == ["visitor", "visitor", "agent"]
    assert {r["policy"] for r in first["retention"]} == {"delete-180d@1", "pseudonymise-30d@1"}
    exported = [e for e in _audit(renv) if e["action"] == "privacy.exported"]
    assert [(e["target_id"], e["actor_id"]) for e in exported] == [(anna[0], "dpo-1"), (anna[1], "dpo-1")]
    for event in _audit(renv):
        assert "anna" not in json.dumps(event, default=str).lower()  # no personal data in the audit log


async def test_export_still_finds_the_person_after_pseudonymisation(renv: RetentionEnv) -> None:
    async with renv.open() as (_, seed):
        old = await seed.conversation(days_ago(40), ["Bel 06-55554444"], visitor=ANNA)
    assert renv.retention("run", "--now", NOW.isoformat()).returncode == 0
    result = renv.privacy("export", "--email", ANNA.email or "")
    assert result.returncode == 0, result.stderr
    export = json.loads(result.stdout)
    assert [c["id"] for c in export["conversations"]] == [old]
    conv = export["conversations"][0]
    assert conv["visitor"] == {} and conv["pseudonymised"]["by"] == "pseudonymise-30d@1"
    assert conv["messages"][0]["text"] == "Bel [phone]"


async def test_erase_deletes_documents_and_keys_and_is_audited(renv: RetentionEnv) -> None:
    anna, bob = await _seed(renv)
    refused = renv.privacy("erase", "--email", ANNA.email or "", stdin="no\n")
    assert refused.returncode == 1
    assert renv.raw().conversations.count_documents({}) == 3

    confirmed = renv.privacy("erase", "--email", ANNA.email or "", stdin="erase\n")
    assert confirmed.returncode == 0, confirmed.stderr
    db = renv.raw()
    for conversation_id in anna:
        assert db.conversations.count_documents({"_id": conversation_id}) == 0
        assert db.messages.count_documents({"conversation_id": conversation_id}) == 0
        assert db.data_keys.count_documents({"_id": conversation_id}) == 0
    assert db.conversations.count_documents({"_id": bob}) == 1 and db.data_keys.count_documents({"_id": bob}) == 1
    erased = [e["target_id"] for e in _audit(renv) if e["action"] == "privacy.erased"]
    assert erased == anna

    by_id = renv.privacy("erase", "--conversation", bob, "--yes")
    assert by_id.returncode == 0, by_id.stderr
    assert db.conversations.count_documents({}) == 0 and db.data_keys.count_documents({}) == 0
    assert renv.chat_service("audit", "verify").returncode == 0


async def test_breach_report_lists_conversations_stored_or_opened_in_the_window(renv: RetentionEnv) -> None:
    anna, bob = await _seed(renv)
    out = renv.workdir / "breach.json"
    start, end = days_ago(2.5).isoformat(), days_ago(0).isoformat()
    result = renv.privacy("breach-report", "--from", start, "--to", end, "--output", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    listed = {row["conversation_id"]: row for row in report["conversations"]}
    assert set(listed) == {anna[1], bob}  # anna[0] was stored three days ago
    assert report["totals"]["data_subjects"] == 2
    text = out.read_text()
    for canary in [*ANNA_CANARIES, *BOB_CANARIES]:
        assert canary.lower() not in text.lower()  # pseudonymous: the file itself holds no personal data
    # The same person gets the same pseudonym as the retention job would give her.
    assert listed[anna[1]]["data_subject"].startswith("p")
    events = [e for e in _audit(renv) if e["action"] == "privacy.breach_report"]
    assert len(events) == 1 and events[0]["details"]["conversations"] == 2


def test_find_refuses_what_is_not_an_address_or_id(renv: RetentionEnv) -> None:
    result = renv.privacy("find", "--email", "not-an-address")
    assert result.returncode == 1 and "e-mail" in result.stderr
    result = renv.privacy("find", "--conversation", "x; drop")
    assert result.returncode == 1


async def test_server_stores_a_blind_index_with_the_first_message(server: ServerProcess) -> None:
    visitor, _ = await visitor_client(server)
    ack = await call(
        visitor, "/visitor", "message", {"client_id": "v1", "text": "hoi", "profile": {"email": "Eva@Voorbeeld.nl"}}
    )
    await visitor.disconnect()
    keys, _ = HmacKeys.load(server.workdir / "var" / "hmac.keys")
    doc = server.db().conversations.find_one({"_id": ack["conversation_id"]})
    assert doc["email_index"] == keys.blind_index("eva@voorbeeld.nl")
    assert "eva" not in doc["email_index"]
