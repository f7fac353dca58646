"""E-mail against a real aiosmtpd server: STARTTLS with a generated certificate, refusal without TLS,
offline messages through the outbox, and `chat-service check --smtp-test` (which sends nothing)."""

from __future__ import annotations

import ipaddress
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import bson
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chat_service.conversations import Conversations, VisitorContext
from chat_service.crypto import HmacKeys, KeyRingSource
from chat_service.mail import Mailer, MailRefused, OfflineMail, SmtpConfig, render_offline
from chat_service.outbox import DeliveryWorker, Outbox, Webhooks, WebhookSender
from chat_service.outbox.events import MailRoute
from chat_service.storage import open_database
from chat_service.validation import parse_visitor_message
from tests.helpers import SecantusProcess, ServerProcess, free_port, new_hmac_keys_file, new_key_ring_file

USER, PASSWORD = "chat@example.eu", "smtp password 1"
CANARY = "offline-canary-51c2"


@dataclass
class Mailbox:
    received: list[tuple[EmailMessage, bool, str | None]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append((message, session.ssl is not None, envelope.mail_from))
        return "250 OK"


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login == USER.encode() and data.password == PASSWORD.encode()
    return AuthResult(success=ok)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with `cryptography`."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@dataclass
class Smtp:
    port: int
    mailbox: Mailbox


def start_smtp(tls: tuple[Path, Path] | None) -> tuple[Controller, Smtp]:
    mailbox = Mailbox()
    port = free_port()
    kwargs: dict[str, Any] = {"authenticator": authenticate, "auth_require_tls": True}
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*tls)
        kwargs.update(tls_context=context, require_starttls=True)
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return controller, Smtp(port, mailbox)


@pytest.fixture
def smtp(certificate: tuple[Path, Path]) -> Iterator[Smtp]:
    controller, server = start_smtp(certificate)
    yield server
    controller.stop()


@pytest.fixture
def smtp_without_tls() -> Iterator[Smtp]:
    controller, server = start_smtp(None)
    yield server
    controller.stop()


def config(port: int, certificate: tuple[Path, Path], tmp_path: Path, **changes: Any) -> SmtpConfig:
    password_file = tmp_path / "smtp.password"
    password_file.write_text(PASSWORD + "\n")
    password_file.chmod(0o600)
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "tls": "starttls",
        "sender": "chat@example.eu",
        "user": USER,
        "password_file": password_file,
        "ca_file": certificate[0],
        **changes,
    }
    return SmtpConfig(**values)


def offline(language: str = "en") -> OfflineMail:
    return OfflineMail(
        to="team@shop.example.eu",
        sender="chat@example.eu",
        conversation_id="c" + "1" * 24,
        text=f'Call me back <b>please</b> {CANARY}\n<img src="https://tracker.example/x.png">',
        link="https://chat.example.eu/console/#inbox",
        language=language,
        visitor_name="Anna de Vries",
        visitor_email="anna@example.nl",
    )


async def test_starttls_round_trip_with_reply_to_and_both_parts(
    smtp: Smtp, certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    await Mailer(config(smtp.port, certificate, tmp_path)).send(render_offline(offline()))
    ((message, encrypted, _),) = smtp.mailbox.received
    assert encrypted  # the session was upgraded with STARTTLS before anything was sent
    assert message["Reply-To"] == '"Anna de Vries" <anna@example.nl>' or "anna@example.nl" in message["Reply-To"]
    assert message["To"] == "team@shop.example.eu"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    assert CANARY in plain.get_content() and "https://chat.example.eu/console/#inbox" in plain.get_content()
    html_text = html.get_content()
    assert "<b>please</b>" not in html_text and "&lt;b&gt;please&lt;/b&gt;" in html_text  # escaped
    assert "<img" not in html_text  # no remote images, not even the visitor's


async def test_dutch_template(smtp: Smtp, certificate: tuple[Path, Path], tmp_path: Path) -> None:
    await Mailer(config(smtp.port, certificate, tmp_path)).send(render_offline(offline("nl")))
    ((message, _, _),) = smtp.mailbox.received
    assert message["Subject"].startswith("Nieuw offline bericht")


async def test_a_server_without_starttls_is_refused_and_gets_nothing(
    smtp_without_tls: Smtp, certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    mailer = Mailer(config(smtp_without_tls.port, certificate, tmp_path))
    with pytest.raises(MailRefused, match="STARTTLS"):
        await mailer.send(render_offline(offline()))
    assert smtp_without_tls.mailbox.received == []


async def test_an_untrusted_certificate_is_refused(smtp: Smtp, certificate: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises((MailRefused, ssl.SSLError, OSError)):
        await Mailer(config(smtp.port, certificate, tmp_path, ca_file=None)).send(render_offline(offline()))
    assert smtp.mailbox.received == []


def test_plain_smtp_is_refused_outside_dev(certificate: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(MailRefused, match="dev mode"):
        Mailer(config(25, certificate, tmp_path, tls="none"))


async def test_offline_message_goes_through_the_outbox_encrypted(
    smtp: Smtp, certificate: tuple[Path, Path], tmp_path: Path, secantus: SecantusProcess
) -> None:
    keys = KeyRingSource(new_key_ring_file(tmp_path / "master.keys"), None)
    hmac_keys, _ = HmacKeys.load(new_hmac_keys_file(tmp_path / "hmac.keys"))
    route = MailRoute(lambda site: "team@shop.example.eu" if site == "shop" else None, "chat@example.eu", "https://c/")
    async with open_database(secantus.uri, "t_" + uuid.uuid4().hex[:12], 5000) as db:
        await db.ensure_indexes()
        outbox = Outbox(db, mail=route)
        conversations = Conversations(db, keys, resume_days=30, hmac_keys=hmac_keys, outbox=outbox)
        first = parse_visitor_message(
            {
                "client_id": uuid.uuid4().hex,
                "text": f"Please call me {CANARY}",
                "offline": True,
                "site_id": "shop",
                "profile": {"email": "anna@example.nl", "name": "Anna", "language": "nl"},
            },
            max_len=4000,
        )
        await conversations.start(first, VisitorContext())
        stored = bson.encode({"d": [d async for d in db.db.outbox.find({})]})
        assert CANARY.encode() not in stored and b"anna@example.nl" not in stored
        webhooks = Webhooks(db, keys, outbox, allowed_regions=[], dev=True)
        sender = WebhookSender(dev=True, timeout_s=5)
        worker = DeliveryWorker(
            db, keys, outbox, webhooks, sender, mailer=Mailer(config(smtp.port, certificate, tmp_path))
        )
        assert await worker.run_once() == 1
        await sender.close()
        ((message, encrypted, _),) = smtp.mailbox.received
        assert encrypted and "anna@example.nl" in message["Reply-To"]
        assert message["Subject"].startswith("Nieuw offline bericht")
        assert CANARY in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert (await db.db.outbox.find_one({}))["status"] == "delivered"  # type: ignore[index]
        # A conversation that is not offline, or a site without a team address, sends no mail.
        online = parse_visitor_message({"client_id": uuid.uuid4().hex, "text": "hi", "site_id": "shop"}, max_len=9)
        await conversations.start(online, VisitorContext())
        assert await db.db.outbox.count_documents({}) == 1


def test_check_smtp_test_connects_and_sends_nothing(
    smtp: Smtp, smtp_without_tls: Smtp, certificate: tuple[Path, Path], tmp_path: Path, secantus: SecantusProcess
) -> None:
    cfg = config(smtp.port, certificate, tmp_path)
    env = {
        "CHAT_SMTP_HOST": "127.0.0.1",
        "CHAT_SMTP_PORT": str(smtp.port),
        "CHAT_SMTP_FROM": "chat@example.eu",
        "CHAT_SMTP_USER": USER,
        "CHAT_SMTP_PASSWORD_FILE": str(cfg.password_file),
        "CHAT_SMTP_CA_FILE": str(certificate[0]),
    }
    server = ServerProcess(secantus.uri, tmp_path / "s", env_extra=env)
    result = server.run_cli("check", "--smtp-test")
    assert result.returncode == 0, result.stderr
    assert "nothing sent" in result.stdout and smtp.mailbox.received == []

    server.env_extra["CHAT_SMTP_PORT"] = str(smtp_without_tls.port)
    result = server.run_cli("check", "--smtp-test")
    assert result.returncode == 1 and "STARTTLS" in result.stderr

    assert cfg.password_file is not None
    cfg.password_file.chmod(0o644)
    result = server.run_cli("check")
    assert result.returncode == 1 and "chmod 600" in result.stderr
