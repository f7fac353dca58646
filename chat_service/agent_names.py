"""The name a visitor sees on an agent's message: the first word of the agent's display name, unless
the site hides agents' names (`show_agent_names = false`). Never the e-mail address, never an id."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable

from aiohttp import web

from chat_service.sites import Site, Sites
from chat_service.storage import Database
from chat_service.storage.users import UserStore

MAX_NAME = 40
CACHE_SECONDS = 60.0  # a renamed agent shows under the new name within a minute
SITES_REMEMBERED = 10_000  # conversations whose site this node remembers (a site never changes)


def first_name(display_name: str | None) -> str | None:
    words = (display_name or "").split()
    return words[0][:MAX_NAME] if words else None


class AgentNames:
    """First names by agent id, looked up once a minute at most per agent on this node."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[str | None, float]] = {}
        self._site_of: OrderedDict[str, str | None] = OrderedDict()

    def remember(self, user_id: str, display_name: str | None) -> None:
        self._cache[user_id] = (first_name(display_name), time.monotonic() + CACHE_SECONDS)

    async def _name(self, users: UserStore, user_id: str) -> str | None:
        cached = self._cache.get(user_id)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        user = await users.by_id(user_id)
        self.remember(user_id, user.display_name if user is not None else None)
        return self._cache[user_id][0]

    async def for_visitor(self, users: UserStore, site: Site | None, agent_ids: Iterable[str | None]) -> dict[str, str]:
        """Agent id -> the name to show on that agent's messages on `site` (absent: show none)."""
        if site is not None and not site.branding.show_agent_names:
            return {}
        names = {}
        for agent_id in set(filter(None, agent_ids)):
            name = await self._name(users, agent_id)
            if name:
                names[agent_id] = name
        return names

    async def for_conversation(
        self, db: Database, sites: Sites, conversation_id: str, agent_ids: Iterable[str | None]
    ) -> dict[str, str]:
        """As `for_visitor`, for the site of this conversation."""
        if conversation_id in self._site_of:
            self._site_of.move_to_end(conversation_id)
            site_id = self._site_of[conversation_id]
        else:
            conv = await db.conversations.get(conversation_id)
            site_id = conv.site_id if conv is not None else None
            self._site_of[conversation_id] = site_id
            if len(self._site_of) > SITES_REMEMBERED:
                self._site_of.popitem(last=False)
        return await self.for_visitor(db.users, sites.get(site_id), agent_ids)


AGENT_NAMES = web.AppKey("agent_names", AgentNames)
