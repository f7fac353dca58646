"""SMTP with TLS required outside dev: STARTTLS (refused if the server does not offer it) or implicit TLS."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Literal

import aiosmtplib

TlsMode = Literal["starttls", "implicit", "none"]


class MailRefused(Exception):
    """Not sent: the connection would not be encrypted, or the server refused us."""


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    tls: TlsMode
    sender: str
    user: str | None = None
    password_file: Path | None = None
    timeout_s: float = 10.0
    dev: bool = False
    # Extra trusted CA (tests' generated certificate; a private relay's CA). None: the system's.
    ca_file: Path | None = field(default=None)

    def password(self) -> str | None:
        if self.password_file is None:
            return None
        return self.password_file.read_text().strip()


class Mailer:
    def __init__(self, config: SmtpConfig):
        if config.tls == "none" and not config.dev:
            raise MailRefused("SMTP without TLS is allowed in dev mode only")
        self.config = config

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.config.ca_file) if self.config.ca_file else None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def _client(self) -> aiosmtplib.SMTP:
        c = self.config
        return aiosmtplib.SMTP(
            hostname=c.host,
            port=c.port,
            use_tls=c.tls == "implicit",
            start_tls=False,  # done by hand below, so a server without STARTTLS is refused, not used in clear
            tls_context=self._tls_context(),
            timeout=c.timeout_s,
        )

    async def _open(self) -> aiosmtplib.SMTP:
        client = self._client()
        try:
            await client.connect()
            await client.ehlo()
            if self.config.tls == "starttls":
                if not client.supports_extension("starttls"):
                    raise MailRefused("the SMTP server does not offer STARTTLS; refusing to send in clear")
                await client.starttls()
            password = self.config.password()
            if self.config.user and password is not None:
                await client.login(self.config.user, password)
        except aiosmtplib.SMTPException as exc:
            client.close()
            raise MailRefused(f"SMTP: {type(exc).__name__}") from exc
        except MailRefused:
            client.close()
            raise
        return client

    async def send(self, message: EmailMessage) -> None:
        client = await self._open()
        try:
            await client.send_message(message)
        except aiosmtplib.SMTPException as exc:
            raise MailRefused(f"SMTP: {type(exc).__name__}") from exc
        finally:
            if client.is_connected:
                await client.quit()

    async def test_connection(self) -> None:
        """Connect, secure, authenticate and quit: sends nothing (`chat-service check --smtp-test`)."""
        client = await self._open()
        if client.is_connected:
            await client.quit()
