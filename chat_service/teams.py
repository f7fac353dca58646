"""Teams and site isolation: which sites' conversations a staff member may see.

An admin sees every site. An agent sees the sites of the teams they are in. Until the first team
exists every agent sees every site (a fresh install, or one that never needs teams, works as
before); from then on an agent in no team sees nothing. Conversations started without a site are
seen only by admins once teams exist.

This module decides; `sockets/fanout.py` turns a scope into Socket.IO rooms, and every agent
handler and HTTP route that touches a conversation asks `require` first.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chat_service.audit import AuditLog
from chat_service.conversations import utcnow
from chat_service.errors import InvalidInput, NotFound
from chat_service.models import Team, User
from chat_service.storage import Database

# Conversation id -> site id: a conversation never changes site, so this never goes stale.
SITE_CACHE_SIZE = 20_000
NO_SUCH_CONVERSATION = "No such conversation."


@dataclass(frozen=True)
class Scope:
    """The sites one staff member may see; `sites is None` means every site (and conversations without one)."""

    sites: frozenset[str] | None

    @property
    def everything(self) -> bool:
        return self.sites is None

    def allows(self, site_id: str | None) -> bool:
        if self.sites is None:
            return True
        return site_id is not None and site_id in self.sites

    def narrow(self, wanted: Iterable[str] | None) -> frozenset[str] | None:
        """The sites a filter may range over: `wanted` within the scope (None: the whole scope)."""
        if wanted is None:
            return self.sites
        chosen = frozenset(wanted)
        return chosen if self.sites is None else chosen & self.sites


EVERYTHING = Scope(None)


def scope_for(user: User, teams: Collection[Team]) -> Scope:
    if user.role == "admin" or not teams:
        return EVERYTHING
    return Scope(frozenset(site for team in teams if user.id in team.agent_ids for site in team.site_ids))


def new_team_id() -> str:
    return "t" + secrets.token_hex(8)


class Teams:
    def __init__(self, db: Database, audit: AuditLog, *, clock: Callable[[], datetime] = utcnow):
        self._db = db
        self._audit = audit
        self._clock = clock
        self._site_of: OrderedDict[str, str | None] = OrderedDict()

    # --- scope ---------------------------------------------------------------------------------

    async def scope(self, user: User) -> Scope:
        """Asked afresh each time (teams are few): a change applies to the very next event."""
        if user.role == "admin":
            return EVERYTHING
        return scope_for(user, await self._db.teams.all())

    async def site_of(self, conversation_id: str) -> str | None:
        if conversation_id in self._site_of:
            self._site_of.move_to_end(conversation_id)
            return self._site_of[conversation_id]
        conv = await self._db.conversations.get(conversation_id)
        if conv is None:
            raise NotFound(NO_SUCH_CONVERSATION)
        self.remember(conversation_id, conv.site_id)
        return conv.site_id

    def remember(self, conversation_id: str, site_id: str | None) -> None:
        self._site_of[conversation_id] = site_id
        if len(self._site_of) > SITE_CACHE_SIZE:
            self._site_of.popitem(last=False)

    async def require(self, user: User, conversation_id: str) -> str | None:
        """The conversation's site if `user` may see it; else `not_found`, as for one that does not
        exist, so an agent cannot even learn that another team's conversation exists."""
        scope = await self.scope(user)
        site_id = await self.site_of(conversation_id)
        if not scope.allows(site_id):
            raise NotFound(NO_SUCH_CONVERSATION)
        return site_id

    # --- administration ------------------------------------------------------------------------

    async def all(self) -> list[Team]:
        return await self._db.teams.all()

    async def _check_agents(self, agent_ids: Collection[str]) -> None:
        known = {u.id for u in await self._db.users.all()}
        unknown = sorted(set(agent_ids) - known)
        if unknown:
            raise InvalidInput("No such user: " + ", ".join(unknown[:5]), details={"field": "agent_ids"})

    async def create(self, actor: User, name: str, agent_ids: list[str], site_ids: list[str]) -> Team:
        await self._check_agents(agent_ids)
        team = Team(new_team_id(), name, tuple(dict.fromkeys(agent_ids)), tuple(dict.fromkeys(site_ids)), self._clock())
        await self._db.teams.insert(team)
        await self._audit.record(actor.id, "team.created", target_type="team", target_id=team.id, details=_sizes(team))
        return team

    async def update(self, actor: User, team_id: str, changes: dict[str, Any]) -> Team:
        if "agent_ids" in changes:
            await self._check_agents(changes["agent_ids"])
            changes["agent_ids"] = list(dict.fromkeys(changes["agent_ids"]))
        if "site_ids" in changes:
            changes["site_ids"] = list(dict.fromkeys(changes["site_ids"]))
        team = await self._db.teams.update(team_id, changes, self._clock())
        if team is None:
            raise NotFound("No such team.")
        await self._audit.record(actor.id, "team.changed", target_type="team", target_id=team_id, details=_sizes(team))
        return team

    async def delete(self, actor: User, team_id: str) -> None:
        if not await self._db.teams.delete(team_id):
            raise NotFound("No such team.")
        await self._audit.record(actor.id, "team.deleted", target_type="team", target_id=team_id)


def _sizes(team: Team) -> dict[str, str | int | bool | None]:
    return {"agents": len(team.agent_ids), "sites": ",".join(team.site_ids)[:500]}
