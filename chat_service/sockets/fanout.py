"""Agent fan-out by site: every conversation event goes to its site's room and to the room of
staff who see every site, never to one room of all agents. Through `sio.emit` only, so the Redis
manager carries it to the other nodes unchanged.

Emit agent events about a conversation with `emit_to_agents` (never `room="agents"`): that is the
one place team isolation is applied to what reaches a socket.
"""

from __future__ import annotations

from typing import Any

import socketio

from chat_service.models import User
from chat_service.services import Services
from chat_service.teams import Scope, scope_for

AGENT_NAMESPACE = "/agent"
# Presence only (who is online); nothing about conversations is sent to it.
AGENTS_ROOM = "agents"
ALL_SITES_ROOM = "sites:*"
NO_SITE = "-"  # conversations started without a site id


def site_room(site_id: str | None) -> str:
    return f"site:{site_id or NO_SITE}"


def rooms_of(scope: Scope) -> set[str]:
    if scope.sites is None:
        return {ALL_SITES_ROOM}
    return {site_room(site) for site in scope.sites}


async def emit_to_agents(
    sio: socketio.AsyncServer, event: str, data: dict[str, Any], site_id: str | None, *, skip_sid: str | None = None
) -> None:
    """Send a conversation event to the staff who may see its site (on every node)."""
    await sio.emit(event, data, room=[ALL_SITES_ROOM, site_room(site_id)], namespace=AGENT_NAMESPACE, skip_sid=skip_sid)


async def join_rooms(sio: socketio.AsyncServer, sid: str, scope: Scope, known: set[str]) -> None:
    """Put one socket (on any node) in exactly the rooms of `scope`, out of the `known` site rooms."""
    wanted = rooms_of(scope)
    # Leave first: for a moment too few events, never another team's.
    for room in sorted(known - wanted):
        await sio.leave_room(sid, room, namespace=AGENT_NAMESPACE)
    for room in sorted(wanted):
        await sio.enter_room(sid, room, namespace=AGENT_NAMESPACE)


async def refresh_rooms(services: Services, site_ids: set[str]) -> None:
    """After a change to teams: move every connected staff socket, on every node, to its new rooms.

    `site_ids`: every site any socket may be in (configured sites and teams' sites, before and after).
    """
    teams = await services.db.teams.all()
    known = {ALL_SITES_ROOM, site_room(None)} | {site_room(s) for s in site_ids}
    known |= {site_room(s) for team in teams for s in team.site_ids}
    users: list[User] = await services.db.users.all()
    for user in users:
        sids = await services.presence.sockets_of(user.id)
        if not sids:
            continue
        scope = scope_for(user, teams)
        for sid in sids:
            await join_rooms(services.sio, sid, scope, known)
