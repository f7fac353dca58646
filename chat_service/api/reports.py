"""Reports (JSON and CSV) over the sites the caller may see."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chat_service.api.auth import require_user
from chat_service.api.contract import ApiRoutes
from chat_service.api.middleware import parse_query
from chat_service.reports import Range, report_csv
from chat_service.schemas.teams import ReportQuery
from chat_service.services import SERVICES

routes = ApiRoutes()


async def _report(request: web.Request) -> dict[str, Any]:
    who = await require_user(request)
    services = request.app[SERVICES]
    query = parse_query(request, ReportQuery)
    scope = await services.teams.scope(who.user)
    await services.conversations.fold_bookkeeping()  # this node's counts, exact
    span = Range(query.start, query.end, round(query.tz_offset / 60))
    return await services.reports.report(scope, span, query.site)


@routes.api("GET", "/api/reports", "Conversation report: volumes, response times, CSAT", query=ReportQuery)
async def report(request: web.Request) -> web.Response:
    return web.json_response(await _report(request))


@routes.api(
    "GET",
    "/api/reports.csv",
    "The same report as CSV",
    query=ReportQuery,
    ok="CSV (text/csv), as a download",
    ok_type="text/csv",
)
async def report_as_csv(request: web.Request) -> web.Response:
    data = await _report(request)
    name = f"report-{data['range']['from']}-{data['range']['to']}.csv"
    return web.Response(
        text=report_csv(data),
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
