"""The e-mail flows beyond the offline message, against a real aiosmtpd server with STARTTLS:
an agent answering by e-mail, a visitor's transcript, the "waiting too long" notice, and the
`conversation.status_changed` a visitor's reopen queues."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import bson
import pytest

from chat_service.conversations import Conversations, VisitorContext
from chat_service.crypto import HmacKeys, KeyRingSource
from chat_service.mail import Mailer
from chat_service.outbox import DeliveryWorker, Outbox, Webhooks, WebhookSender
from chat_service.outbox.events import MailRoute, payload_aad
from chat_service.storage import open_database
from chat_service.storage.outbox import Endpoint
from chat_service.validation import parse_visitor_message
from chat_service.waiting import WaitingNotifier
from tests.conftest import AGENT_EMAIL, AGENT_PASSWORD
from tests.helpers import (
    SecantusProcess,
    ServerProcess,
    agent_client,
    call,
    login,
    new_hmac_keys_file,
    new_key_ring_file,
    visitor_client,
)
from tests.test_email import PASSWORD, USER, Smtp, certificate, config, smtp  # noqa: F401 (fixtures)
from tests.waiting import eventually

CANARY = "reply-canary-93d1"
VISITOR = "anna.canary@example.nl"
TEAM = "team@shop.example.eu"
SITE_SENDER = "chat@shop.example.eu"
START = datetime(2027, 5, 3, 9, 0, tzinfo=UTC)
NAME = "Annabel Canary"


@pytest.fixture
def mail_server(
    smtp: Smtp,  # noqa: F811
    certificate: tuple[Path, Path],  # noqa: F811
    secantus: SecantusProcess,
    tmp_path: Path,
) -> Iterator[ServerProcess]:
    """A chat server whose e-mail goes to the test's SMTP server; site `shop` has team and sender addresses."""
    sites = tmp_path / "sites.toml"
    sites.write_text(
        f'[sites.shop]\norigins = ["https://shop.example.eu"]\nteam_email = "{TEAM}"\nsender_email = "{SITE_SENDER}"\n'
    )
    password_file = tmp_path / "smtp.password"
    password_file.write_text(PASSWORD)
    password_file.chmod(0o600)
    server = ServerProcess(
        secantus.uri,
        tmp_path / "server",
        env_extra={
            "CHAT_SITES_FILE": str(sites),
            "CHAT_SMTP_HOST": "127.0.0.1",
            "CHAT_SMTP_PORT": str(smtp.port),
            "CHAT_SMTP_FROM": "chat@example.eu",
            "CHAT_SMTP_USER": USER,
            "CHAT_SMTP_PASSWORD_FILE": str(password_file),
            "CHAT_SMTP_CA_FILE": str(certificate[0]),
            "CHAT_OUTBOX_POLL_MS": "100",
            "CHAT_LIMIT_TRANSCRIPTS_PER_HOUR": "2",
        },
    ).start()
    server.create_user(AGENT_EMAIL, AGENT_PASSWORD)
    yield server
    server.stop()


def mails_to(smtp: Smtp, address: str) -> list[EmailMessage]:  # noqa: F811
    return [m for m, _, _ in smtp.mailbox.received if address in m["To"]]


def parts(message: EmailMessage) -> tuple[str, str]:
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


async def offline_conversation(server: ServerProcess, email: str | None = VISITOR) -> str:
    visitor, _ = await visitor_client(server)
    profile: dict[str, Any] = {"name": "Anna", "language": "nl"}
    if email:
        profile["email"] = email
    ack = await call(
        visitor,
        "/visitor",
        "message",
        {
            "client_id": uuid.uuid4().hex,
            "text": "Please call me back",
            "site_id": "shop",
            "offline": email is not None,
            "profile": profile,
        },
    )
    assert ack["ok"], ack
    await visitor.disconnect()
    return str(ack["conversation_id"])


async def test_an_agent_answers_an_offline_message_by_email(mail_server: ServerProcess, smtp: Smtp) -> None:  # noqa: F811
    conversation_id = await offline_conversation(mail_server)
    # The team's copy of the offline message links straight to the conversation in the console.
    (to_team,) = await eventually(lambda: mails_to(smtp, TEAM) or None, what="the offline message mail")
    assert f"{mail_server.url}/console/c/{conversation_id}" in parts(to_team)[0]

    cookie = await login(mail_server, AGENT_EMAIL, AGENT_PASSWORD)
    agent, _ = await agent_client(mail_server, cookie)
    answer = {"conversation_id": conversation_id, "client_id": "answer-1", "text": f"We <b>called</b> {CANARY}"}
    ack = await call(agent, "/agent", "email_reply", answer)
    assert ack["ok"], ack
    again = await call(agent, "/agent", "email_reply", answer)  # a resend: same message, no second mail
    assert again["message"]["id"] == ack["message"]["id"]

    (mail,) = await eventually(lambda: mails_to(smtp, VISITOR) or None, what="the agent's answer by e-mail")
    assert mail["From"] == SITE_SENDER and TEAM in mail["Reply-To"]
    assert mail["Subject"] == "Re: uw bericht"  # the visitor's language (nl)
    plain, html = parts(mail)
    assert CANARY in plain and "&lt;b&gt;called&lt;/b&gt;" in html and "<img" not in html

    # Stored in the conversation as the agent's reply; one delivery however often it was sent.
    opened = await call(agent, "/agent", "open", {"conversation_id": conversation_id})
    assert [m["text"] for m in opened["messages"] if m["sender"] == "agent"] == [answer["text"]]
    outbox = list(mail_server.db().outbox.find({"event_type": "email.agent_reply"}))
    assert len(outbox) == 1 and outbox[0]["status"] == "delivered"
    assert CANARY.encode() not in bson.encode({"d": outbox}) and VISITOR.encode() not in bson.encode({"d": outbox})
    await agent.disconnect()


async def test_email_reply_needs_an_address(mail_server: ServerProcess) -> None:
    conversation_id = await offline_conversation(mail_server, email=None)
    cookie = await login(mail_server, AGENT_EMAIL, AGENT_PASSWORD)
    agent, _ = await agent_client(mail_server, cookie)
    ack = await call(
        agent, "/agent", "email_reply", {"conversation_id": conversation_id, "client_id": "x", "text": "hi"}
    )
    assert ack == {
        "ok": False,
        "error": {"code": "email_unavailable", "message": "This visitor left no e-mail address."},
    }
    opened = await call(agent, "/agent", "open", {"conversation_id": conversation_id})
    assert [m["sender"] for m in opened["messages"]] == ["visitor"]  # nothing stored
    await agent.disconnect()


async def test_a_visitor_gets_a_transcript_by_email_and_is_rate_limited(
    mail_server: ServerProcess,
    smtp: Smtp,  # noqa: F811
) -> None:
    visitor, _ = await visitor_client(mail_server)
    before = await call(visitor, "/visitor", "transcript", {"email": VISITOR})
    assert before["error"]["code"] == "invalid_input"  # no conversation yet
    first = {
        "client_id": uuid.uuid4().hex,
        "text": "Hello <b>there</b>",
        "site_id": "shop",
        "profile": {"language": "nl"},
    }
    conversation_id = (await call(visitor, "/visitor", "message", first))["conversation_id"]
    cookie = await login(mail_server, AGENT_EMAIL, AGENT_PASSWORD)
    agent, _ = await agent_client(mail_server, cookie)
    reply = {"conversation_id": conversation_id, "client_id": "r1", "text": f"Hi, {CANARY}"}
    assert (await call(agent, "/agent", "reply", reply))["ok"]

    bad = await call(visitor, "/visitor", "transcript", {"email": "not an address"})
    assert bad["error"]["code"] == "invalid_input"
    ack = await call(visitor, "/visitor", "transcript", {"email": VISITOR})
    assert ack == {"ok": True, "messages": 2}
    (mail,) = await eventually(lambda: mails_to(smtp, VISITOR) or None, what="the transcript")
    assert mail["Subject"] == "Uw chatgesprek" and mail["From"] == SITE_SENDER
    plain, html = parts(mail)
    assert "Hello <b>there</b>" in plain and CANARY in plain
    assert "&lt;b&gt;there&lt;/b&gt;" in html and "<img" not in html and "src=" not in html

    assert (await call(visitor, "/visitor", "transcript", {"email": VISITOR, "language": "en"}))["ok"]
    refused = await call(visitor, "/visitor", "transcript", {"email": "someone.else@example.eu"})
    assert refused["error"]["code"] == "rate_limited" and refused["error"]["details"]["retry_after"] > 0
    await eventually(lambda: len(mails_to(smtp, VISITOR)) == 2 or None, what="the second transcript")
    assert mails_to(smtp, "someone.else@example.eu") == []
    await visitor.disconnect()
    await agent.disconnect()


class Clock:
    def __init__(self) -> None:
        self.at = START

    def __call__(self) -> datetime:
        return self.at


async def test_waiting_notice_is_sent_once_whatever_the_number_of_nodes(
    smtp: Smtp,  # noqa: F811
    certificate: tuple[Path, Path],  # noqa: F811
    secantus: SecantusProcess,
    tmp_path: Path,
) -> None:
    keys = KeyRingSource(new_key_ring_file(tmp_path / "master.keys"), None)
    hmac_keys, _ = HmacKeys.load(new_hmac_keys_file(tmp_path / "hmac.keys"))
    route = MailRoute(
        lambda site: TEAM if site == "shop" else None, "chat@example.eu", "https://chat.example.eu/console/c/"
    )
    clock = Clock()
    async with open_database(secantus.uri, "t_" + uuid.uuid4().hex[:12], 5000) as db:
        await db.ensure_indexes()
        outbox = Outbox(db, mail=route, clock=clock)
        conversations = Conversations(db, keys, resume_days=30, hmac_keys=hmac_keys, outbox=outbox, clock=clock)

        async def start(site: str) -> str:
            first = parse_visitor_message(
                {
                    "client_id": uuid.uuid4().hex,
                    "text": f"waiting {CANARY}",
                    "site_id": site,
                    "profile": {"name": "Anna"},
                },
                max_len=4000,
            )
            return (await conversations.start(first, VisitorContext())).conversation.id

        waiting, claimed, elsewhere = await start("shop"), await start("shop"), await start("other")
        await conversations.claim(claimed, "u" + "1" * 24, force=False)
        nodes = [WaitingNotifier(db, keys, outbox, minutes=5, clock=clock) for _ in range(3)]

        clock.at = START + timedelta(minutes=4)
        assert sum(await asyncio.gather(*(n.run_once() for n in nodes))) == 0
        clock.at = START + timedelta(minutes=6)
        assert sum(await asyncio.gather(*(n.run_once() for n in nodes))) == 1
        clock.at = START + timedelta(minutes=60)
        assert sum(await asyncio.gather(*(n.run_once() for n in nodes))) == 0
        notices = [d async for d in db.db.outbox.find({"event_type": "email.waiting"})]
        assert [d["conversation_id"] for d in notices] == [waiting]
        # The other site has no team address: looked at once, nothing queued, not looked at again.
        marked = {d["_id"] async for d in db.db.conversations.find({"waiting_notified_at": {"$exists": True}})}
        assert marked == {waiting, elsewhere}

        webhooks = Webhooks(db, keys, outbox, allowed_regions=[], dev=True)
        sender = WebhookSender(dev=True, timeout_s=5)
        worker = DeliveryWorker(
            db, keys, outbox, webhooks, sender, clock=clock, mailer=Mailer(config(smtp.port, certificate, tmp_path))
        )
        sent = await worker.run_once()
        await sender.close()
    assert sent == 1
    (mail,) = mails_to(smtp, TEAM)
    plain, html = parts(mail)
    assert f"https://chat.example.eu/console/c/{waiting}" in plain and "5 minutes" in mail["Subject"]
    assert CANARY not in plain + html and NAME not in plain + html  # ids and a link only


async def test_a_visitor_reopening_queues_status_changed(secantus: SecantusProcess, tmp_path: Path) -> None:
    keys = KeyRingSource(new_key_ring_file(tmp_path / "master.keys"), None)
    async with open_database(secantus.uri, "t_" + uuid.uuid4().hex[:12], 5000) as db:
        await db.ensure_indexes()
        outbox = Outbox(db)
        outbox.set_endpoints(
            [
                Endpoint(
                    id="we" + "1" * 24,
                    url="https://hooks.example.eu/chat",
                    region="eu-central-1",
                    events=("conversation.status_changed",),
                    fields=(),
                    enabled=True,
                    created_at=START,
                    updated_at=START,
                )
            ]
        )
        conversations = Conversations(db, keys, resume_days=30, outbox=outbox)
        first = parse_visitor_message({"client_id": uuid.uuid4().hex, "text": "hello"}, max_len=4000)
        conversation_id = (await conversations.start(first, VisitorContext())).conversation.id
        await conversations.set_status(conversation_id, "closed")
        _, _, reopened = await conversations.visitor_send(conversation_id, "again-1", "I am back")
        assert reopened is not None and reopened.status == "open"
        await conversations.visitor_send(conversation_id, "again-2", "still here")  # already open: no event

        key = await conversations._data_key(conversation_id)
        statuses = sorted(
            [
                json.loads(key.decrypt(payload_aad(doc["_id"]), doc["payload"]))["data"]["status"]
                async for doc in db.db.outbox.find({"event_type": "conversation.status_changed"})
            ]
        )
        assert statuses == ["closed", "open"]  # the agent's close, then the visitor's reopen, once
