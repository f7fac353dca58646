"""The other e-mails (en, nl; plain text plus HTML; no remote images, no tracking, all escaped):
an agent's answer to a visitor, a visitor's transcript, and the team's "waiting too long" notice."""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from chat_service.mail.templates import OfflineMail, render_offline

# Outbox event types of e-mail deliveries (the pseudo-endpoint "mail").
OFFLINE = "email.offline_message"
AGENT_REPLY = "email.agent_reply"
TRANSCRIPT = "email.transcript"
WAITING = "email.waiting"

_WORDS = {
    "en": {
        "reply_subject": "Re: your message",
        "reply_intro": "Our answer to your message:",
        "reply_footer": "You can answer this e-mail.",
        "transcript_subject": "Your chat transcript",
        "transcript_intro": "The conversation you asked us to send you. You asked for it yourself; "
        "we send it only to the address you gave.",
        "you": "You",
        "support": "Support",
        "waiting_subject": "A visitor has been waiting {minutes} minutes",
        "waiting_intro": "A conversation has been waiting for an agent for more than {minutes} minutes.",
        "open": "Open it in the console:",
    },
    "nl": {
        "reply_subject": "Re: uw bericht",
        "reply_intro": "Ons antwoord op uw bericht:",
        "reply_footer": "U kunt deze e-mail beantwoorden.",
        "transcript_subject": "Uw chatgesprek",
        "transcript_intro": "Het gesprek dat u ons vroeg u te sturen. U vroeg er zelf om; "
        "we sturen het alleen naar het adres dat u opgaf.",
        "you": "U",
        "support": "Support",
        "waiting_subject": "Een bezoeker wacht al {minutes} minuten",
        "waiting_intro": "Een gesprek wacht al meer dan {minutes} minuten op een medewerker.",
        "open": "Open het in de console:",
    },
}


def words(language: str | None) -> dict[str, str]:
    primary = (language or "en").split("-")[0].lower()
    return _WORDS.get(primary, _WORDS["en"])


@dataclass(frozen=True)
class AgentReplyMail:
    to: str
    sender: str
    conversation_id: str
    text: str
    language: str = "en"
    reply_to: str | None = None  # the site's team address: the visitor's answer reaches people


@dataclass(frozen=True)
class TranscriptMail:
    to: str
    sender: str
    conversation_id: str
    # (sender kind, ISO time, text) per message, oldest first.
    lines: Sequence[Sequence[str]] = field(default_factory=list)
    language: str = "en"


@dataclass(frozen=True)
class WaitingMail:
    to: str
    sender: str
    conversation_id: str
    minutes: int
    link: str
    language: str = "en"


def _envelope(to: str, sender: str, subject: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = to
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    return message


def _page(language: str, body: str) -> str:
    return f'<!doctype html><html lang="{html.escape(language)}"><body>{body}</body></html>'


def _quote(text: str) -> str:
    return f'<blockquote style="white-space:pre-wrap">{html.escape(text)}</blockquote>'


def render_agent_reply(mail: AgentReplyMail) -> EmailMessage:
    w = words(mail.language)
    message = _envelope(mail.to, mail.sender, w["reply_subject"])
    if mail.reply_to:
        message["Reply-To"] = Address(addr_spec=mail.reply_to)
    message.set_content(f"{w['reply_intro']}\n\n{mail.text}\n\n{w['reply_footer']}\n")
    message.add_alternative(
        _page(
            mail.language,
            f"<p>{html.escape(w['reply_intro'])}</p>{_quote(mail.text)}<p>{html.escape(w['reply_footer'])}</p>",
        ),
        subtype="html",
    )
    return message


def render_transcript(mail: TranscriptMail) -> EmailMessage:
    w = words(mail.language)
    message = _envelope(mail.to, mail.sender, w["transcript_subject"])
    message["Auto-Submitted"] = "auto-replied"
    who = {"visitor": w["you"]}
    plain = [w["transcript_intro"], ""]
    rows = []
    for sender, at, text in mail.lines:
        name = who.get(sender, w["support"])
        plain.append(f"[{at}] {name}: {text}")
        rows.append(
            f"<p><small>{html.escape(at)}</small> <strong>{html.escape(name)}:</strong> "
            f'<span style="white-space:pre-wrap">{html.escape(text)}</span></p>'
        )
    message.set_content("\n".join(plain) + "\n")
    message.add_alternative(
        _page(mail.language, f"<p>{html.escape(w['transcript_intro'])}</p>{''.join(rows)}"), subtype="html"
    )
    return message


def render_waiting(mail: WaitingMail) -> EmailMessage:
    w = words(mail.language)
    message = _envelope(mail.to, mail.sender, w["waiting_subject"].format(minutes=mail.minutes))
    message["Auto-Submitted"] = "auto-generated"
    intro = w["waiting_intro"].format(minutes=mail.minutes)
    message.set_content(f"{intro}\n\n{w['open']}\n{mail.link}\n")
    e = html.escape
    message.add_alternative(
        _page(mail.language, f'<p>{e(intro)}</p><p>{e(w["open"])}<br><a href="{e(mail.link)}">{e(mail.link)}</a></p>'),
        subtype="html",
    )
    return message


_RENDERERS: Mapping[str, tuple[type[Any], Callable[[Any], EmailMessage]]] = {
    OFFLINE: (OfflineMail, render_offline),
    AGENT_REPLY: (AgentReplyMail, render_agent_reply),
    TRANSCRIPT: (TranscriptMail, render_transcript),
    WAITING: (WaitingMail, render_waiting),
}


def render_delivery(event_type: str, body: str) -> EmailMessage:
    """The e-mail an outbox delivery's decrypted payload describes; ValueError/TypeError if malformed."""
    known = _RENDERERS.get(event_type)
    if known is None:
        raise ValueError(f"unknown e-mail kind {event_type!r}")
    kind, render = known
    return render(kind(**json.loads(body)))
