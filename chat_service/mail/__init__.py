"""Outgoing e-mail over TLS (aiosmtplib), sent through the outbox like webhooks."""

from chat_service.mail.letters import (
    AGENT_REPLY,
    TRANSCRIPT,
    WAITING,
    AgentReplyMail,
    TranscriptMail,
    WaitingMail,
    render_delivery,
)
from chat_service.mail.mailer import Mailer, MailRefused, SmtpConfig
from chat_service.mail.templates import OfflineMail, render_offline

__all__ = [
    "AGENT_REPLY",
    "TRANSCRIPT",
    "WAITING",
    "AgentReplyMail",
    "MailRefused",
    "Mailer",
    "OfflineMail",
    "SmtpConfig",
    "TranscriptMail",
    "WaitingMail",
    "render_delivery",
    "render_offline",
]
