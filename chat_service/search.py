"""Conversation search for agents: structured filters in the database, free text in memory.

No plaintext index exists at rest. A text search decrypts the messages of at most
`MAX_CANDIDATES` conversations (the newest the other filters leave, within the searcher's teams)
and at most `MAX_MESSAGES` messages in all, matches in memory and forgets them. Each search is one
audit event naming its filters, but never the searched text (see docs/privacy.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from chat_service.audit import AuditLog
from chat_service.conversations import Conversations
from chat_service.crypto import HmacKeys
from chat_service.models import User
from chat_service.schemas.teams import SearchBody
from chat_service.storage import Database
from chat_service.storage.conversations import ConversationFilter
from chat_service.teams import Scope

MAX_CANDIDATES = 200
MAX_MESSAGES = 5_000


@dataclass(frozen=True)
class SearchResult:
    rows: list[dict[str, Any]]
    candidates: int
    decrypted: int
    truncated: bool


def build_filter(query: SearchBody, scope: Scope, email_index: str | None) -> ConversationFilter | None:
    """The database filter, or None when the filters cannot match anything in this scope."""
    sites = scope.narrow(query.site_ids or None)
    if sites is not None and not sites:
        return None
    statuses: tuple[str, ...] = ()
    if query.status == "waiting":
        statuses = ("waiting", "open")  # `open` and nobody assigned is what waiting means today
    elif query.status is not None:
        statuses = (query.status,)
    return ConversationFilter(
        conversation_id=query.conversation_id,
        email_index=email_index,
        statuses=statuses,
        unassigned=query.status == "waiting",
        agent_id=query.agent_id,
        sites=sites,
        labels=tuple(query.labels),
        created_from=query.start,
        created_to=query.end,
    )


def audit_details(query: SearchBody, email_index: str | None, result: SearchResult) -> dict[str, Any]:
    """What the audit keeps of a search: the structured filters, the e-mail only as its blind index
    (already stored beside the conversations), and that text was searched, never the text."""
    details: dict[str, Any] = {
        "conversation_id": query.conversation_id,
        "email_index": email_index,
        "status": query.status,
        "labels": ",".join(query.labels) or None,
        "site_ids": ",".join(query.site_ids) or None,
        "agent_id": query.agent_id,
        "from": query.start.isoformat() if query.start else None,
        "to": query.end.isoformat() if query.end else None,
        "text": query.text is not None,
        "results": len(result.rows),
        "decrypted_messages": result.decrypted,
        "truncated": result.truncated,
    }
    return {k: v for k, v in details.items() if v is not None}


class Search:
    def __init__(self, db: Database, conversations: Conversations, hmac_keys: HmacKeys, audit: AuditLog):
        self._db = db
        self._conversations = conversations
        self._hmac = hmac_keys
        self._audit = audit

    async def run(self, user: User, scope: Scope, query: SearchBody) -> SearchResult:
        email_index = self._hmac.blind_index(query.email) if query.email else None
        where = build_filter(query, scope, email_index)
        result = SearchResult([], 0, 0, False)
        if where is not None:
            result = await self._matching(user, where, query)
        # Accounted for before anything decrypted leaves the server.
        await self._audit.record(
            user.id, "conversations.searched", target_type="search", details=audit_details(query, email_index, result)
        )
        return result

    async def _matching(self, user: User, where: ConversationFilter, query: SearchBody) -> SearchResult:
        if query.text is None:
            convs = await self._db.conversations.search(where, query.limit)
            return SearchResult(await self._conversations.rows(convs, user.id), len(convs), 0, False)
        candidates = await self._db.conversations.search(where, MAX_CANDIDATES + 1)
        truncated = len(candidates) > MAX_CANDIDATES
        candidates = candidates[:MAX_CANDIDATES]
        pattern = re.compile(re.escape(query.text.strip()), re.IGNORECASE)
        snippets, decrypted, cut = await self._conversations.find_text(candidates, pattern, MAX_MESSAGES)
        matched = [c for c in candidates if c.id in snippets][: query.limit]
        rows = await self._conversations.rows(matched, user.id)
        for row in rows:
            row["match"] = snippets[row["id"]]
        return SearchResult(rows, len(candidates), decrypted, truncated or cut)
