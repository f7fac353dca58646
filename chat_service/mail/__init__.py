"""Outgoing e-mail over TLS (aiosmtplib), sent through the outbox like webhooks."""

from chat_service.mail.mailer import Mailer, MailRefused, SmtpConfig
from chat_service.mail.templates import OfflineMail, render_offline

__all__ = ["MailRefused", "Mailer", "OfflineMail", "SmtpConfig", "render_offline"]
