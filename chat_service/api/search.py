"""Conversation search for agents and admins, within the sites of the caller's teams."""

from __future__ import annotations

from aiohttp import web

from chat_service.api.auth import require_user
from chat_service.api.contract import ApiRoutes
from chat_service.api.middleware import parse_body
from chat_service.schemas.teams import SearchBody
from chat_service.search import MAX_CANDIDATES, MAX_MESSAGES
from chat_service.services import SERVICES

routes = ApiRoutes()


# POST, not GET: the searched text must not end up in access logs or browser history.
@routes.api("POST", "/api/search", "Search conversations (audited; text matched in memory)", body=SearchBody)
async def search(request: web.Request) -> web.Response:
    who = await require_user(request)
    services = request.app[SERVICES]
    query = await parse_body(request, SearchBody)
    scope = await services.teams.scope(who.user)
    result = await services.search.run(who.user, scope, query)
    return web.json_response(
        {
            "conversations": result.rows,
            "candidates": result.candidates,
            "truncated": result.truncated,
            "limits": {"candidates": MAX_CANDIDATES, "messages": MAX_MESSAGES},
        }
    )
