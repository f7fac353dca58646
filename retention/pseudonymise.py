"""Pseudonymise one conversation in memory (GDPR Art. 4(5)); storage writes the result.

The visitor's identifiers are replaced by a keyed HMAC pseudonym (the key is kept apart from the
database), their encrypted originals are dropped, and personal data in message texts is redacted.
Everything kept is re-encrypted under a NEW data key and the old one is destroyed: the old
ciphertexts that survive in the oplog, the storage engine's journal and backups then follow the
same shredding bound as an erasure (see retention/epochs.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from chat_service.crypto import DataKey, FieldRef, HmacKeys, WrappedKey
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
    redactions: Counter[str] = field(default_factory=Counter)
    unreadable_messages: int = 0


def pseudonymise_conversation(
    conv: Conversation,
    old_key: DataKey,
    new_key: tuple[DataKey, WrappedKey],
    messages: Sequence[Message],
    hmac_keys: HmacKeys,
) -> PseudonymisedConversation:
    """Redact with the old key, re-encrypt every kept field and text under `new_key`."""
    key, wrapped = new_key
    visitor = decrypt_visitor(old_key, conv)
    pseudonym = conv.pseudonym or subject_pseudonym(hmac_keys, conv.id, visitor.get("email"))
    known = known_value_patterns((kind, visitor[name]) for name, kind in _KNOWN_KINDS.items() if visitor.get(name))
    kept = {
        name: key.encrypt(FieldRef("conversations", conv.id, f"visitor.{name}"), value)
        for name, value in visitor.items()
        if name not in IDENTIFYING_FIELDS
    }
    texts: list[RedactedText] = []
    redactions: Counter[str] = Counter()
    unreadable = 0
    for message in messages:
        if message.attachment is not None:
            # The file is deleted; its message keeps the kind and size only, not the name.
            message = replace(message, attachment=replace(message.attachment, name=b"", removed=True))
        ref = FieldRef("messages", message.id, "text")
        try:
            text = old_key.decrypt(ref, message.text)
        except DecryptionFailed:
            # Nobody can read it, so it discloses nothing either: kept as it is.
            unreadable += 1
            texts.append(RedactedText(message, message.text, message.text_length))
            continue
        redaction = redact(text, known)
        if redaction.changed:
            redactions.update(redaction.counts)
        texts.append(RedactedText(message, key.encrypt(ref, redaction.text), len(redaction.text)))
    change = Pseudonymisation(conv.id, pseudonym, kept, wrapped, tuple(texts))
    return PseudonymisedConversation(change, redactions, unreadable)
