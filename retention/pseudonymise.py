"""Pseudonymise one conversation in memory (GDPR Art. 4(5)); storage writes the result.

The visitor's identifiers are replaced by a keyed HMAC pseudonym (the key is kept apart from the
database), their encrypted originals are dropped, and personal data in message texts is redacted
and re-encrypted under the conversation's own data key.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from chat_service.crypto import DataKey, FieldRef, HmacKeys
from chat_service.errors import DecryptionFailed
from chat_service.models import Conversation, Message
from chat_service.storage.retention import Pseudonymisation, RedactedText
from retention.redact import known_value_patterns, redact

# Visitor fields that identify a person; the language stays (encrypted) for statistics.
IDENTIFYING_FIELDS = ("name", "email", "ip", "user_agent", "page_url")
# Which placeholder a known visitor value leaves when it turns up in a message text.
_KNOWN_KINDS = {"name": "name", "email": "email", "ip": "ip", "page_url": "url"}


def subject_pseudonym(hmac_keys: HmacKeys, conversation_id: str, email: str | None) -> str:
    """The same person (by e-mail) gets the same pseudonym across conversations; others one each."""
    if email:
        return "p" + hmac_keys.pseudonym("email:" + email.strip().lower())
    return "p" + hmac_keys.pseudonym("conversation:" + conversation_id)


def decrypt_visitor(key: DataKey, conv: Conversation) -> dict[str, str]:
    """The readable visitor fields; a field that fails to authenticate is left out."""
    plain: dict[str, str] = {}
    for name, blob in conv.visitor.items():
        try:
            plain[name] = key.decrypt(FieldRef("conversations", conv.id, f"visitor.{name}"), blob)
        except DecryptionFailed:
            continue
    return plain


@dataclass
class PseudonymisedConversation:
    change: Pseudonymisation
    texts: list[RedactedText]
    redactions: Counter[str] = field(default_factory=Counter)
    unreadable_messages: int = 0


def pseudonymise_conversation(
    conv: Conversation, key: DataKey, messages: Sequence[Message], hmac_keys: HmacKeys
) -> PseudonymisedConversation:
    visitor = decrypt_visitor(key, conv)
    pseudonym = conv.pseudonym or subject_pseudonym(hmac_keys, conv.id, visitor.get("email"))
    known = known_value_patterns((kind, visitor[name]) for name, kind in _KNOWN_KINDS.items() if visitor.get(name))
    result = PseudonymisedConversation(
        Pseudonymisation(conv.id, pseudonym, tuple(f for f in IDENTIFYING_FIELDS if f in conv.visitor)), []
    )
    for message in messages:
        ref = FieldRef("messages", message.id, "text")
        try:
            text = key.decrypt(ref, message.text)
        except DecryptionFailed:
            result.unreadable_messages += 1  # nobody can read it, so it discloses nothing either
            continue
        redaction = redact(text, known)
        if redaction.changed:
            result.texts.append(RedactedText(message.id, key.encrypt(ref, redaction.text), len(redaction.text)))
            result.redactions.update(redaction.counts)
    return result
