"""The retention job against real SecantusDB, driven through `chat-retention` with `--now`."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from chat_service.conversations import VisitorContext
from chat_service.crypto import FieldRef
from chat_service.errors import DecryptionFailed
from chat_service.storage.batches import Activity
from chat_service.validation import parse_visitor_message
from retention.pseudonymise import decrypt_visitor
from retention.redact import redact
from tests.helpers import SecantusProcess
from tests.retention_helpers import NOW, RetentionEnv, Visitor, days_ago
from tests.test_write_pipeline import message

CANARY_VISITOR = Visitor(
    name="Canary Jansen-de Vries",
    email="canary.jansen@voorbeeld.nl",
    ip="203.0.113.77",
    user_agent="CanaryBrowser/9.9",
    page_url="https://shop.example.eu/cart?canary=page-url-secret",
    language="nl",
)
CANARY_TEXTS = [
    "Hallo, ik ben Canary Jansen-de Vries en mijn bestelling 123456 is niet aangekomen.",
    "Bel me op 06-98765432 of mail canary.jansen@voorbeeld.nl",
    "Terugbetalen op NL91ABNA0417164300 graag. Mijn IP is 203.0.113.77",
]
CANARY_REPLY = "Dag mevrouw Jansen, we storten het terug op NL91 ABNA 0417 1643 00."
CANARIES = [
    "Canary",
    "Jansen",
    "Vries",
    "canary.jansen@voorbeeld.nl",
    "06-98765432",
    "NL91ABNA0417164300",
    "NL91 ABNA 0417 1643 00",
    "203.0.113.77",
    "CanaryBrowser",
    "page-url-secret",
]


@pytest.fixture
def renv(secantus: SecantusProcess, tmp_path: Path) -> RetentionEnv:
    return RetentionEnv(secantus.uri, tmp_path / "retention")


def _no_canary(text: str) -> None:
    for canary in CANARIES:
        assert canary.lower() not in text.lower(), f"{canary!r} survived in {text!r}"


async def test_pseudonymisation_removes_every_canary_and_keeps_counts_and_times(renv: RetentionEnv) -> None:
    async with renv.open() as (db, seed):
        old = await seed.conversation(days_ago(40), CANARY_TEXTS, visitor=CANARY_VISITOR, replies=(CANARY_REPLY,))
        recent = await seed.conversation(days_ago(5), ["Mijn nummer is 06-11112222"], visitor=Visitor(name="Recent"))
        before = {m["_id"]: m for m in renv.raw().messages.find({"conversation_id": old})}
        conv_before = renv.raw().conversations.find_one({"_id": old})

        result = renv.retention("run", "--now", NOW.isoformat())
        assert result.returncode == 0, result.stderr

        raw = renv.raw_bytes()
        for canary in CANARIES:
            assert canary.encode() not in raw
        doc = renv.raw().conversations.find_one({"_id": old})
        assert set(doc["visitor"]) == {"language"}
        assert "email_index" not in doc and doc["resume_token_hash"] == ""
        assert doc["pseudonym"].startswith("p")
        assert doc["pseudonymised"]["policy"] == "pseudonymise-30d" and doc["pseudonymised"]["version"] == 1
        assert doc["pseudonymised"]["at"] == NOW
        for field in ("message_count", "created_at", "last_activity_at"):
            assert doc[field] == conv_before[field]

        # Decrypted views: what an agent, an export or anyone with the keys can still read.
        _, visitor, messages = await seed.reader().open(old)
        assert visitor == {"language": "nl"}
        assert len(messages) == len(before) == 4
        for message in messages:
            _no_canary(message.text)
            assert message.created_at == before[message.id]["created_at"]
        texts = [m.text for m in messages]
        assert texts[0] == "Hallo, ik ben [name] en mijn bestelling 123456 is niet aangekomen."
        assert texts[1] == "Bel me op [phone] of mail [email]"
        assert texts[2] == "Terugbetalen op [iban] graag. Mijn IP is [ip]"
        assert texts[3] == "Dag mevrouw [name], we storten het terug op [iban]."
        key = await seed.reader()._data_key(old)
        conv = await db.conversations.get(old)
        assert conv is not None and decrypt_visitor(key, conv) == {"language": "nl"}

        # The recent conversation is untouched.
        _, recent_visitor, recent_messages = await seed.reader().open(recent)
        assert recent_visitor["name"] == "Recent" and recent_messages[0].text == "Mijn nummer is 06-11112222"

    report = renv.run_json("report")
    assert report[0]["status"] == "done"
    assert report[0]["policies"]["pseudonymise-30d"]["done"] == 1
    assert report[0]["policies"]["pseudonymise-30d"]["redacted_iban"] == 2


async def test_deletion_leaves_no_document_and_no_data_key(renv: RetentionEnv) -> None:
    async with renv.open() as (_, seed):
        ancient = await seed.conversation(days_ago(200), ["oud bericht"], replies=("antwoord",))
        contact_form = await seed.conversation(
            days_ago(50), ["Bel me terug"], visitor=Visitor(email="form@voorbeeld.nl"), offline=True
        )
        young_form = await seed.conversation(
            days_ago(40), ["Nog niet weg"], visitor=Visitor(email="jong@voorbeeld.nl"), offline=True
        )
    wrapped = renv.raw().data_keys.find_one({"_id": ancient})["wrapped"]

    result = renv.retention("run", "--now", NOW.isoformat())
    assert result.returncode == 0, result.stderr

    db = renv.raw()
    for gone in (ancient, contact_form):
        assert db.conversations.count_documents({"_id": gone}) == 0
        assert db.messages.count_documents({"conversation_id": gone}) == 0
        assert db.data_keys.count_documents({"_id": gone}) == 0
    assert wrapped not in renv.raw_bytes()  # not even a copy of the wrapped key is left
    # Contact-form messages live 45 days and are not pseudonymised before that.
    kept = db.conversations.find_one({"_id": young_form})
    assert "pseudonymised" not in kept and "email" in kept["visitor"]
    runs = renv.run_json("report")
    assert runs[0]["policies"]["delete-180d"]["done"] == 1
    assert runs[0]["policies"]["contact-form-45d"]["done"] == 1


async def test_plan_changes_nothing_and_counts_per_policy(renv: RetentionEnv) -> None:
    async with renv.open() as (_, seed):
        await seed.conversation(days_ago(200), ["oud"])
        await seed.conversation(days_ago(200), ["oud formulier"], visitor=Visitor(email="a@b.nl"), offline=True)
        await seed.conversation(days_ago(60), ["formulier"], visitor=Visitor(email="c@d.nl"), offline=True)
        await seed.conversation(days_ago(90), ["te pseudonimiseren"])
        await seed.conversation(days_ago(31), ["ook"])
        await seed.conversation(days_ago(1), ["vers"])
    before = renv.snapshot()
    plan = renv.run_json("plan", "--now", NOW.isoformat())
    assert renv.snapshot() == before
    counts = {p["name"]: p["would_act_on"] for p in plan["policies"]}
    # Each conversation counted once, by the first policy that acts on it.
    assert counts == {"contact-form-45d": 2, "delete-180d": 1, "pseudonymise-30d": 2, "audit-2y": 0}

    result = renv.retention("run", "--now", NOW.isoformat(), "--json")
    assert result.returncode == 0, result.stderr
    after = renv.run_json("plan", "--now", NOW.isoformat())
    assert all(p["would_act_on"] == 0 for p in after["policies"])


async def test_a_second_run_does_nothing(renv: RetentionEnv) -> None:
    async with renv.open() as (_, seed):
        conversation_id = await seed.conversation(days_ago(40), CANARY_TEXTS, visitor=CANARY_VISITOR)
    assert renv.retention("run", "--now", NOW.isoformat()).returncode == 0
    first = renv.raw().messages.find({"conversation_id": conversation_id}).sort("_id", 1).to_list()
    assert renv.retention("run", "--now", NOW.isoformat()).returncode == 0
    second = renv.raw().messages.find({"conversation_id": conversation_id}).sort("_id", 1).to_list()
    assert first == second  # not even re-encrypted
    assert renv.run_json("report")[0]["policies"]["pseudonymise-30d"]["done"] == 0


async def _seed_many(renv: RetentionEnv, n: int, age_days: float = 40) -> list[str]:
    async with renv.open() as (_, seed):
        return [
            await seed.conversation(
                days_ago(age_days - 0.001 * i),
                [f"Bericht {i}: bel 06-1234{i:04d}", "mail me op iemand@example.nl"],
                visitor=Visitor(name=f"Persoon {i}", email=f"p{i}@example.nl"),
            )
            for i in range(n)
        ]


async def test_two_concurrent_runs_never_act_on_the_same_conversation(renv: RetentionEnv) -> None:
    renv.extra_env["CHAT_RETENTION_BATCH_SIZE"] = "10"
    ids = await _seed_many(renv, 120)
    runs = [renv.start_retention("run", "--now", NOW.isoformat(), "--json") for _ in range(2)]
    for proc in runs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    summaries = [r for r in renv.run_json("report") if r["status"] != "skipped"]
    done = sum(r["policies"]["pseudonymise-30d"]["done"] for r in summaries)
    assert done == len(ids)
    marks = {doc["_id"]: doc["pseudonymised"]["run"] for doc in renv.raw().conversations.find()}
    assert set(marks) == set(ids)
    # Each conversation was acted on by exactly one run, and its texts redacted exactly once.
    acted_runs = {r["id"] for r in summaries if r["policies"]["pseudonymise-30d"]["done"]}
    assert set(marks.values()) <= acted_runs
    async with renv.open() as (_, seed):
        _, _, messages = await seed.reader().open(ids[7])
        assert [m.text for m in messages] == ["Bericht 7: bel [phone]", "mail me op [email]"]


async def test_lease_lets_one_holder_act_at_a_time(renv: RetentionEnv) -> None:
    async with renv.open() as (db, _):
        later = NOW.replace(year=2030)
        assert await db.retention.acquire_lease("retention", "a", NOW, later)
        assert not await db.retention.acquire_lease("retention", "b", NOW, later)
        assert await db.retention.acquire_lease("retention", "a", NOW, later)  # re-entrant for its holder
        assert await db.retention.acquire_lease("retention", "b", later, later.replace(year=2031))  # expired
        assert not await db.retention.renew_lease("retention", "a", later, later)


def _run_until_not_skipped(renv: RetentionEnv, deadline_s: float = 30) -> subprocess.CompletedProcess[str]:
    deadline = time.monotonic() + deadline_s
    while True:
        result = renv.retention("run", "--now", NOW.isoformat())
        if "lease_held" not in result.stderr and "skipped" not in result.stdout.split("\n")[0]:
            return result
        assert time.monotonic() < deadline, "the lease of the killed run never expired"
        time.sleep(0.5)


@pytest.mark.parametrize("point", ["pseudonymise.texts_written:3", "delete.keys_destroyed:2"])
async def test_a_run_killed_mid_batch_and_run_again_finishes_correctly(renv: RetentionEnv, point: str) -> None:
    renv.extra_env.update({"CHAT_RETENTION_BATCH_SIZE": "10", "CHAT_RETENTION_LEASE_SECONDS": "2"})
    age = 40 if point.startswith("pseudonymise") else 200
    ids = await _seed_many(renv, 45, age_days=age)

    killed = renv.retention("run", "--now", NOW.isoformat(), "--kill-at", point)
    assert killed.returncode == -9, killed.stderr
    db = renv.raw()
    if point.startswith("pseudonymise"):
        # Two whole batches were committed; the killed third left its batch as it was.
        assert db.conversations.count_documents({"pseudonymised": {"$exists": True}}) == 20
    else:
        assert db.conversations.count_documents({}) == 35 and db.data_keys.count_documents({}) == 35

    result = _run_until_not_skipped(renv)
    assert result.returncode == 0, result.stderr
    if point.startswith("delete"):
        assert db.conversations.count_documents({}) == 0
        assert db.messages.count_documents({}) == 0 and db.data_keys.count_documents({}) == 0
        return
    assert db.conversations.count_documents({"pseudonymised": {"$exists": True}}) == len(ids)
    async with renv.open() as (_, seed):
        for i, conversation_id in enumerate(ids):
            _, visitor, messages = await seed.reader().open(conversation_id)
            assert visitor == {}
            assert [m.text for m in messages] == [f"Bericht {i}: bel [phone]", "mail me op [email]"]
            assert not any(m.unreadable for m in messages)
    statuses = [r["status"] for r in renv.run_json("report")]
    assert statuses[0] == "done" and "running" in statuses  # the killed run never finished


async def test_audit_events_older_than_two_years_go_and_the_chain_still_verifies(renv: RetentionEnv) -> None:
    from chat_service.audit import AuditLog

    async with renv.open() as (db, _):
        clock_at = [days_ago(800)]
        audit = AuditLog(db, renv.hmac_keys, clock=lambda: clock_at[0])
        for age in (800, 760, 700, 10):
            clock_at[0] = days_ago(age)
            await audit.record("someone", "conversation.opened", target_type="conversation", target_id=f"c{age}")
    result = renv.retention("run", "--now", NOW.isoformat())
    assert result.returncode == 0, result.stderr
    left = [(e["action"], e["target_id"]) for e in renv.raw().audit_events.find().sort("_id", 1)]
    assert left[:2] == [("conversation.opened", "c700"), ("conversation.opened", "c10")]
    assert [action for action, _ in left[2:]] == ["retention.run"]
    verify = renv.chat_service("audit", "verify")
    assert verify.returncode == 0, verify.stderr
    # The marker that lets the chain start later cannot be moved without the audit key.
    renv.raw().audit_trim.update_one({"_id": "trim"}, {"$inc": {"seq": 1}})
    assert renv.chat_service("audit", "verify").returncode == 1


def test_bad_policy_file_exits_2(renv: RetentionEnv, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[policy]]\nname = "x"\nversion = 0\ntarget = "users"\naction = "shred"\n')
    result = renv.retention("plan", "--policies", str(bad))
    assert result.returncode == 2
    for word in ("version", "target", "action", "older_than_days"):
        assert word in result.stderr


def test_redaction_in_pseudonymise_uses_the_same_rules_as_the_table() -> None:
    # Guard against the job and the table test drifting apart.
    assert redact("06-98765432").text == "[phone]"
    assert FieldRef("messages", "m1", "text").aad().endswith(b"/messages/m1/text")


async def test_deletion_spares_a_conversation_that_came_back_to_life(renv: RetentionEnv) -> None:
    """Selected as 200 days quiet, but the visitor wrote again before the batch ran: it stays."""
    async with renv.open() as (db, seed):
        revived = await seed.conversation(days_ago(200), ["oud bericht"])
        quiet = await seed.conversation(days_ago(200), ["ook oud"])
        written = message(revived, "new", at=days_ago(0))  # stored and counted, as the pipeline does
        await db.batches.insert_messages([written])
        await db.batches.fold([Activity(revived, 1, written.id, written.created_at)])
        deleted = await db.retention.delete_conversations([revived, quiet], inactive_before=days_ago(180))
    assert deleted == 1
    raw = renv.raw()
    assert raw.conversations.count_documents({"_id": revived}) == 1
    assert raw.data_keys.count_documents({"_id": revived}) == 1
    assert raw.conversations.count_documents({"_id": quiet}) == 0


async def test_pseudonymisation_re_keys_and_nothing_restarts_the_conversation(renv: RetentionEnv) -> None:
    """The old data key is destroyed (its ciphertexts elsewhere follow the shredding bound); the
    first message's client id and the resume token no longer lead back to the conversation."""
    client_id = "c" * 30
    async with renv.open() as (db, seed):
        old = await seed.conversation(days_ago(40), CANARY_TEXTS, visitor=CANARY_VISITOR, first_client_id=client_id)
        ring = renv.key_source().current()
        wrapped = await db.data_keys.get(old)
        assert wrapped is not None
        key_before = ring.unwrap(old, wrapped)
        assert renv.raw().conversations.find_one({"_id": old})["first_client_hash"]
        texts_before = {m["_id"]: m["text"] for m in renv.raw().messages.find({"conversation_id": old})}

        result = renv.retention("run", "--now", NOW.isoformat())
        assert result.returncode == 0, result.stderr

        doc = renv.raw().conversations.find_one({"_id": old})
        assert "first_client_hash" not in doc and doc["resume_token_hash"] == ""
        after = {m["_id"]: m for m in renv.raw().messages.find({"conversation_id": old})}
        assert set(after) == set(texts_before)  # same ids, every text re-encrypted
        for message_id, message in after.items():
            assert message["text"] != texts_before[message_id]
            with pytest.raises(DecryptionFailed):
                key_before.decrypt(FieldRef("messages", message_id, "text"), message["text"])
        for name, blob in doc["visitor"].items():
            with pytest.raises(DecryptionFailed):
                key_before.decrypt(FieldRef("conversations", old, f"visitor.{name}"), blob)
        _, _, messages = await seed.reader().open(old)
        assert messages[0].text == "Hallo, ik ben [name] en mijn bestelling 123456 is niet aangekomen."

        # A first message with the same client id starts a new conversation instead of the old one.
        first = parse_visitor_message({"client_id": client_id, "text": "Ben ik het weer?"}, max_len=4000)
        started = await seed.reader().start(first, VisitorContext(None, None))
        assert started.is_new and started.conversation.id != old


async def test_a_message_stored_after_the_batch_was_read_is_neither_lost_nor_left_under_a_dead_key(
    renv: RetentionEnv,
) -> None:
    """The visitor's message is stored (not yet counted on the conversation) between the job's read
    of the batch and its transaction: that conversation waits for the next run, the others go."""
    from chat_service.conversations import new_message_id
    from chat_service.models import Message
    from chat_service.storage.retention import ConversationSelector
    from retention.pseudonymise import pseudonymise_conversation

    async with renv.open() as (db, seed):
        busy = await seed.conversation(days_ago(40), ["bel 06-12345678"])
        quiet = await seed.conversation(days_ago(40), ["mail me op a@b.nl"])
        ring = renv.key_source().current()
        selector = ConversationSelector(before=days_ago(30), pending_policy=("p", 1))
        batch = [c async for part in db.retention.stream_conversations(selector, 10) for c in part]
        messages = await db.retention.messages_of([c.id for c in batch])
        wrapped = await db.retention.wrapped_keys([c.id for c in batch])
        changes = [
            pseudonymise_conversation(
                c,
                ring.unwrap(c.id, wrapped[c.id]),
                ring.new_data_key(c.id),
                [m for m in messages if m.conversation_id == c.id],
                renv.hmac_keys,
            ).change
            for c in batch
        ]
        key = ring.unwrap(busy, wrapped[busy])
        late_id = new_message_id()
        late = Message(
            id=late_id,
            conversation_id=busy,
            sender="visitor",
            client_id="v-late",
            created_at=days_ago(0),
            text=key.encrypt(FieldRef("messages", late_id, "text"), "nog een vraag"),
            text_length=13,
        )
        assert [o.value for o in await db.batches.insert_messages([late])] == ["new"]

        done = await db.retention.pseudonymise(
            changes, selector=selector, policy="p", version=1, at=NOW, run_id="r-test"
        )
        assert done == {quiet}
        _, _, busy_messages = await seed.reader().open(busy)
        assert [m.text for m in busy_messages] == ["bel 06-12345678", "nog een vraag"]
        _, _, quiet_messages = await seed.reader().open(quiet)
        assert [m.text for m in quiet_messages] == ["mail me op [email]"]
