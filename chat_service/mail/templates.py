"""Mail templates (en, nl), plain text plus HTML; no remote images, no tracking, everything escaped."""

from __future__ import annotations

import html
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid

_TEXT = {
    "en": {
        "subject": "New offline message ({conversation_id})",
        "intro": "A visitor left a message while nobody was online.",
        "from": "From",
        "reply": "Reply to this e-mail to answer the visitor, or open the conversation in the console:",
        "anonymous": "(no name given)",
    },
    "nl": {
        "subject": "Nieuw offline bericht ({conversation_id})",
        "intro": "Een bezoeker liet een bericht achter terwijl er niemand online was.",
        "from": "Van",
        "reply": "Beantwoord deze e-mail om de bezoeker te antwoorden, of open het gesprek in de console:",
        "anonymous": "(geen naam opgegeven)",
    },
}


@dataclass(frozen=True)
class OfflineMail:
    to: str
    sender: str
    conversation_id: str
    text: str
    link: str
    language: str = "en"
    visitor_name: str | None = None
    visitor_email: str | None = None


def render_offline(mail: OfflineMail) -> EmailMessage:
    words = _TEXT.get(mail.language, _TEXT["en"])
    who = mail.visitor_name or words["anonymous"]
    if mail.visitor_email:
        who = f"{who} <{mail.visitor_email}>"
    message = EmailMessage()
    message["Subject"] = words["subject"].format(conversation_id=mail.conversation_id)
    message["From"] = mail.sender
    message["To"] = mail.to
    if mail.visitor_email:
        message["Reply-To"] = Address(display_name=mail.visitor_name or "", addr_spec=mail.visitor_email)
    message["Message-ID"] = make_msgid(domain=mail.sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    body = f"{words['intro']}\n\n{words['from']}: {who}\n\n{mail.text}\n\n{words['reply']}\n{mail.link}\n"
    message.set_content(body)
    e = html.escape
    quoted = e(mail.text).replace("\n", "<br>")
    message.add_alternative(
        f'<!doctype html><html lang="{e(mail.language)}"><body>'
        f"<p>{e(words['intro'])}</p><p><strong>{e(words['from'])}:</strong> {e(who)}</p>"
        f'<blockquote style="white-space:pre-wrap">{quoted}</blockquote>'
        f'<p>{e(words["reply"])}<br><a href="{e(mail.link)}">{e(mail.link)}</a></p>'
        "</body></html>",
        subtype="html",
    )
    return message
