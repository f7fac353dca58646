"""Data-subject requests and breach reports as plain domain functions (the CLI and the console API).

Find a person's conversations by e-mail (through the blind index, or the pseudonym once the
retention job has acted) or by conversation id; export everything stored about them, decrypted
(Art. 15/20); erase it by deletion and crypto-shredding (Art. 17); list who was affected in a time
window (Art. 33). Every call that reveals or removes data writes an audit event without personal data.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chat_service.attachments import read_file
from chat_service.audit import AuditLog
from chat_service.conversations import csat_view, iso, utcnow
from chat_service.crypto import DataKey, FieldRef, HmacKeys, KeyRingSource
from chat_service.errors import DecryptionFailed, InvalidInput, NotFound
from chat_service.models import AttachmentRef, Conversation
from chat_service.notes import open_note
from chat_service.outbox.events import Outbox
from chat_service.storage import Database
from chat_service.validation import CONVERSATION_ID, EMAIL
from retention.policies import PolicySet
from retention.pseudonymise import decrypt_visitor, subject_pseudonym

EXPORT_FORMAT = "chat-service/export/v1"
BREACH_FORMAT = "chat-service/breach-report/v1"
# Audit actions that mean someone looked at a conversation's contents.
ACCESS_ACTIONS = frozenset({"conversation.opened", "privacy.exported", "attachment.downloaded"})


@dataclass(frozen=True)
class SubjectQuery:
    """Who a request is about: an e-mail address or one conversation id (exactly one)."""

    email: str | None = None
    conversation_id: str | None = None

    def __post_init__(self) -> None:
        if (self.email is None) == (self.conversation_id is None):
            raise InvalidInput("Give an e-mail address or a conversation id.")
        if self.email is not None and not EMAIL.fullmatch(self.email.strip()):
            raise InvalidInput("That is not an e-mail address.")
        if self.conversation_id is not None and not CONVERSATION_ID.fullmatch(self.conversation_id):
            raise InvalidInput("That is not a conversation id.")


def new_request_id() -> str:
    return "q" + secrets.token_hex(8)


class DataSubjectRequests:
    def __init__(
        self,
        db: Database,
        keys: KeyRingSource,
        hmac_keys: HmacKeys,
        policies: PolicySet,
        *,
        clock: Callable[[], datetime] = utcnow,
        outbox: Outbox | None = None,
    ):
        self._db = db
        self._outbox = outbox or Outbox(db, clock=clock)  # [outbox]
        self._keys = keys
        self._hmac = hmac_keys
        self._policies = policies
        self._clock = clock
        self._audit = AuditLog(db, hmac_keys, clock=clock)

    async def find(self, query: SubjectQuery, *, actor_id: str) -> list[Conversation]:
        """The conversations a request is about (oldest first). Recorded, as a lookup is itself a disclosure."""
        if query.conversation_id is not None:
            conv = await self._db.conversations.get(query.conversation_id)
            found = [] if conv is None else [conv]
        else:
            assert query.email is not None
            email = query.email.strip().lower()
            found = await self._db.retention.conversations_for_subject(
                self._hmac.blind_index(email), subject_pseudonym(self._hmac, "", email)
            )
        await self._audit.record(
            actor_id,
            "privacy.searched",
            target_type="subject_request",
            details={"by": "email" if query.email else "conversation_id", "found": len(found)},
        )
        return found

    async def load(self, conversation_ids: list[str]) -> list[Conversation]:
        """The conversations a request names by id (found earlier), in that order; all must exist."""
        found = [await self._db.conversations.get(conversation_id) for conversation_id in conversation_ids]
        missing = [i for i, conv in zip(conversation_ids, found, strict=True) if conv is None]
        if missing:
            raise NotFound("No such conversation (already erased?).", details={"missing": missing[:20]})
        return [conv for conv in found if conv is not None]

    # --- export (Art. 15 and 20) -----------------------------------------------------------------

    async def _key(self, conversation_id: str) -> DataKey | None:
        wrapped = await self._db.data_keys.get(conversation_id)
        if wrapped is None:
            return None
        try:
            return self._keys.current().unwrap(conversation_id, wrapped)
        except DecryptionFailed:
            return None

    async def _export_one(self, conv: Conversation) -> dict[str, Any]:
        key = await self._key(conv.id)
        messages = []
        async for message in self._db.retention.stream_messages(conv.id):
            entry: dict[str, Any] = {
                "id": message.id,
                "sender": message.sender,
                "created_at": iso(message.created_at),
                "agent_id": message.agent_id,
            }
            try:
                if key is None:
                    raise DecryptionFailed()
                entry["text"] = key.decrypt(FieldRef("messages", message.id, "text"), message.text)
            except DecryptionFailed:
                entry["text"], entry["unreadable"] = None, True
            if message.attachment is not None:
                entry["attachment"] = await self._export_file(key, message.id, message.attachment)
            messages.append(entry)
        # Internal notes are personal data about the person too (Art. 15): exported with their author.
        notes = []
        async for note in self._db.notes.stream(conv.id):
            view = open_note(key, note) if key is not None else None
            notes.append(
                {
                    "id": note.id,
                    "author_id": note.author_id,
                    "created_at": iso(note.created_at),
                    "text": view.text if view is not None and not view.unreadable else None,
                }
            )
        access = [
            {"at": iso(e.at), "action": e.action, "actor_id": e.actor_id}
            for e in await self._db.audit.for_target(conv.id)
        ]
        return {
            "id": conv.id,
            "status": conv.status,
            "offline": conv.offline,
            "created_at": iso(conv.created_at),
            "last_activity_at": iso(conv.last_activity_at),
            "closed_at": iso(conv.closed_at),
            "message_count": conv.message_count,
            "site_id": conv.site_id,
            "notice_version": conv.notice_version,
            "visitor": {} if key is None else decrypt_visitor(key, conv),
            "pseudonym": conv.pseudonym,
            "pseudonymised": None
            if conv.pseudonymised_by is None
            else {"by": conv.pseudonymised_by, "at": iso(conv.pseudonymised_at)},
            "messages": messages,
            "csat": csat_view(conv, key),
            "internal_notes": notes,
            "retention": self._retention_of(conv),
            "access_log": access,
        }

    async def _export_file(self, key: DataKey | None, message_id: str, ref: AttachmentRef) -> dict[str, Any]:
        """An attached file: its name, kind, size and content (base64), as far as it is still readable."""
        entry: dict[str, Any] = {"id": ref.id, "type": ref.type, "size": ref.size}
        if ref.removed:
            return {**entry, "removed": True}
        file = await self._db.attachments.get(ref.id)
        try:
            if key is None or file is None:
                raise DecryptionFailed()
            entry["name"] = key.decrypt(FieldRef("messages", message_id, "attachment.name"), ref.name)
            entry["content_base64"] = base64.b64encode(await read_file(self._db, key, file)).decode()
        except DecryptionFailed:
            entry["unreadable"] = True
        return entry

    def _retention_of(self, conv: Conversation) -> list[dict[str, Any]]:
        """Which policies apply to this conversation and from when, if nothing else happens in it."""
        applies = []
        for policy in self._policies.for_target("conversations"):
            if policy.offline is not None and policy.offline != conv.offline:
                continue
            applies.append(
                {
                    "policy": policy.label,
                    "action": policy.action,
                    "from": iso(conv.last_activity_at + timedelta(days=policy.older_than_days)),
                    "description": policy.description,
                }
            )
        return applies

    async def export(self, conversations: list[Conversation], *, actor_id: str) -> dict[str, Any]:
        """Everything stored about these conversations, decrypted, as one JSON-ready document."""
        request_id = new_request_id()
        exported = [await self._export_one(conv) for conv in conversations]
        for conv in exported:
            await self._audit.record(
                actor_id,
                "privacy.exported",
                target_type="conversation",
                target_id=conv["id"],
                details={"request": request_id, "messages": len(conv["messages"])},
            )
        return {
            "format": EXPORT_FORMAT,
            "request": request_id,
            "generated_at": iso(self._clock()),
            "conversations": exported,
        }

    # --- erasure (Art. 17) -----------------------------------------------------------------------

    async def erase(self, conversations: list[Conversation], *, actor_id: str) -> int:
        """Delete each conversation, its messages and its data key (crypto-shredding), now."""
        request_id = new_request_id()
        erased = 0
        for conv in conversations:
            erased += await self._db.retention.delete_conversations([conv.id])
            await self._outbox.erased([conv.id])  # [outbox] privacy.erased, and pending deliveries dropped
            await self._audit.record(
                actor_id,
                "privacy.erased",
                target_type="conversation",
                target_id=conv.id,
                details={"request": request_id, "messages": conv.message_count},
            )
        return erased

    # --- breach report (Art. 33) -----------------------------------------------------------------

    async def _subject_of(self, conv: Conversation) -> str:
        if conv.pseudonym:
            return conv.pseudonym
        key = await self._key(conv.id)
        email = decrypt_visitor(key, conv).get("email") if key is not None else None
        return subject_pseudonym(self._hmac, conv.id, email)

    async def breach_report(self, start: datetime, end: datetime, *, actor_id: str) -> dict[str, Any]:
        """Conversations and pseudonymous data subjects whose data was stored or opened in [start, end)."""
        if end <= start:
            raise InvalidInput("The window must end after it starts.")
        stored = await self._db.retention.messages_stored_between(start, end)
        created = {c.id async for c in self._db.retention.conversations_created_between(start, end)}
        opened: dict[str, list[dict[str, Any]]] = {}
        async for event in self._db.audit.stream(since=start):
            if event.at < end and event.action in ACCESS_ACTIONS and event.target_id:
                opened.setdefault(event.target_id, []).append(
                    {"at": iso(event.at), "action": event.action, "actor_id": event.actor_id}
                )
        rows = []
        for conversation_id in sorted(set(stored) | created | set(opened)):
            conv = await self._db.conversations.get(conversation_id)
            rows.append(
                {
                    "conversation_id": conversation_id,
                    "exists": conv is not None,
                    "data_subject": None if conv is None else await self._subject_of(conv),
                    "created_in_window": conversation_id in created,
                    "messages_stored_in_window": stored.get(conversation_id, 0),
                    "opened_in_window": opened.get(conversation_id, []),
                    "created_at": None if conv is None else iso(conv.created_at),
                    "offline": None if conv is None else conv.offline,
                    "pseudonymised": None if conv is None else conv.pseudonymised_by is not None,
                }
            )
        subjects = {row["data_subject"] for row in rows if row["data_subject"]}
        report = {
            "format": BREACH_FORMAT,
            "window": {"from": iso(start), "to": iso(end)},
            "generated_at": iso(self._clock()),
            "totals": {
                "conversations": len(rows),
                "data_subjects": len(subjects),
                "messages_stored": sum(stored.values()),
                "conversations_opened": len(opened),
            },
            "conversations": rows,
            "notes": (
                "Data subjects are keyed pseudonyms (HMAC, key kept apart from the database); the same "
                "e-mail address gives the same pseudonym. Use `chat-service privacy export` to reach a person."
            ),
        }
        await self._audit.record(
            actor_id,
            "privacy.breach_report",
            target_type="breach_report",
            details={
                "from": iso(start),
                "to": iso(end),
                "conversations": len(rows),
                "data_subjects": len(subjects),
            },
        )
        return report
