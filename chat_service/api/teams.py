"""Teams (admin): which agents see which sites' conversations. Every change is audited and moves
the staff sockets on every node into their new rooms at once."""

from __future__ import annotations

from aiohttp import web

from chat_service.api.auth import require_user
from chat_service.api.contract import ApiRoutes
from chat_service.api.middleware import parse_body
from chat_service.conversations import iso
from chat_service.errors import InvalidInput
from chat_service.models import Team
from chat_service.schemas.teams import TeamBody, TeamChangesBody
from chat_service.services import SERVICES
from chat_service.sites import SITES
from chat_service.sockets.fanout import refresh_rooms

routes = ApiRoutes()
TEAM_PATH = "/api/teams/{team_id:t[0-9a-f]{16}}"


def team_to_wire(team: Team) -> dict[str, object]:
    return {
        "id": team.id,
        "name": team.name,
        "agent_ids": list(team.agent_ids),
        "site_ids": list(team.site_ids),
        "updated_at": iso(team.updated_at),
    }


def _configured_sites(request: web.Request) -> set[str]:
    sites = request.app.get(SITES)
    return set() if sites is None else {site.id for site in sites}


def _check_sites(request: web.Request, site_ids: list[str] | None) -> None:
    unknown = sorted(set(site_ids or ()) - _configured_sites(request))
    if unknown:
        raise InvalidInput("No such site: " + ", ".join(unknown[:5]), details={"field": "site_ids"})


async def move_staff_sockets(request: web.Request, *teams: Team) -> None:
    """After a change to teams or roles: every staff socket into the rooms of its new scope."""
    sites = _configured_sites(request) | {s for team in teams for s in team.site_ids}
    await refresh_rooms(request.app[SERVICES], sites)


@routes.api("GET", "/api/teams", "Teams, their agents and sites; the configured sites (admin)", access="admin")
async def list_teams(request: web.Request) -> web.Response:
    await require_user(request, admin=True)
    teams = await request.app[SERVICES].teams.all()
    return web.json_response({"teams": [team_to_wire(t) for t in teams], "sites": sorted(_configured_sites(request))})


@routes.api(
    "POST", "/api/teams", "Create a team (admin)", access="admin", body=TeamBody, statuses=(409,), ok_status=201
)
async def create_team(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    body = await parse_body(request, TeamBody)
    _check_sites(request, body.site_ids)
    team = await request.app[SERVICES].teams.create(who.user, body.name.strip(), body.agent_ids, body.site_ids)
    await move_staff_sockets(request, team)
    return web.json_response({"team": team_to_wire(team)}, status=201)


@routes.api(
    "PATCH",
    TEAM_PATH,
    "Rename a team, set its agents or sites (admin)",
    access="admin",
    body=TeamChangesBody,
    statuses=(409,),
)
async def update_team(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    services = request.app[SERVICES]
    changes = (await parse_body(request, TeamChangesBody)).changes()
    _check_sites(request, changes.get("site_ids"))
    if "name" in changes:
        changes["name"] = changes["name"].strip()
    before = await services.db.teams.get(request.match_info["team_id"])
    team = await services.teams.update(who.user, request.match_info["team_id"], changes)
    await move_staff_sockets(request, team, *([before] if before else []))
    return web.json_response({"team": team_to_wire(team)})


@routes.api("DELETE", TEAM_PATH, "Delete a team (admin)", access="admin")
async def delete_team(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    services = request.app[SERVICES]
    before = await services.db.teams.get(request.match_info["team_id"])
    await services.teams.delete(who.user, request.match_info["team_id"])
    await move_staff_sockets(request, *([before] if before else []))
    return web.json_response({"ok": True})
