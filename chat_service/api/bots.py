"""REST routes for bots: admins configure a site's bot and try questions; a webhook bot answers
through its bearer token. Every admin change is audited."""

from __future__ import annotations

from aiohttp import web

from chat_service.api.auth import require_user
from chat_service.api.contract import ApiRoutes
from chat_service.api.middleware import parse_body
from chat_service.bots.builtin import BuiltinTurn
from chat_service.schemas.bots import BotConfigBody, BotHookHandoverBody, BotHookMessageBody, BotTestBody
from chat_service.services import SERVICES

routes = ApiRoutes()
SITE = "{site_id:[A-Za-z0-9_-]{1,64}}"
BOT = "/api/bots/" + SITE
HOOK = "/api/bot-hooks/" + SITE


def turn_to_wire(turn: BuiltinTurn, questions: list[str]) -> dict[str, object]:
    reply = None
    if turn.messages:
        first = turn.messages[0]
        reply = {"text": first.text, "buttons": [dict(b) for b in first.buttons]}
    return {
        "decision": turn.decision,
        "language": turn.language,
        "reply": reply,
        "ranking": [
            {"index": r.index, "question": questions[r.index], "score": r.score, "confidence": r.confidence}
            for r in turn.ranking
        ],
    }


@routes.api("GET", "/api/bots", "Every site's bot: configuration, where it comes from (admin)", access="admin")
async def list_bots(request: web.Request) -> web.Response:
    await require_user(request, admin=True)
    return web.json_response({"bots": await request.app[SERVICES].bot_admin.overview()})


@routes.api(
    "PUT",
    BOT,
    "Replace a site's bot with this configuration, stored in the database (admin)",
    access="admin",
    body=BotConfigBody,
    statuses=(404,),
)
async def put_bot(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    services = request.app[SERVICES]
    site_id = request.match_info["site_id"]
    config = await parse_body(request, BotConfigBody)
    row = await services.bot_admin.save(site_id, config, who.user.id)
    await services.audit.record(
        who.user.id, "bot.updated", target_type="site", target_id=site_id, details={"type": config.type}
    )
    return web.json_response({"bot": row})


@routes.api("DELETE", BOT, "Back to the sites file's bot for this site (admin)", access="admin", statuses=(404,))
async def reset_bot(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    services = request.app[SERVICES]
    site_id = request.match_info["site_id"]
    row = await services.bot_admin.reset(site_id)
    await services.audit.record(who.user.id, "bot.reset", target_type="site", target_id=site_id)
    return web.json_response({"bot": row})


@routes.api(
    "POST",
    BOT + "/test",
    "What the built-in bot would answer, with its FAQ ranking; stores nothing (admin)",
    access="admin",
    body=BotTestBody,
    statuses=(404, 409),
)
async def test_question(request: web.Request) -> web.Response:
    await require_user(request, admin=True)
    services = request.app[SERVICES]
    site_id = request.match_info["site_id"]
    body = await parse_body(request, BotTestBody)
    turn = services.bot_admin.test(site_id, body.text, body.language)
    bot = services.bots.registry.get(site_id)
    questions = [e.question.get(turn.language) for e in bot.config.faq] if bot is not None else []
    return web.json_response(turn_to_wire(turn, questions))


@routes.api(
    "POST",
    BOT + "/token",
    "A new token and signing secret for the site's webhook bot, shown once (admin)",
    access="admin",
    statuses=(404, 409),
    ok_status=201,
)
async def new_token(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    services = request.app[SERVICES]
    site_id = request.match_info["site_id"]
    token, secret = await services.bot_admin.new_token(site_id)
    await services.audit.record(who.user.id, "bot.token_created", target_type="site", target_id=site_id)
    response = web.json_response({"token": token, "secret": secret}, status=201)
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.api(
    "POST",
    HOOK + "/messages",
    "A webhook bot's reply (Authorization: Bearer <bot token>); 409 once handed over",
    access="none",
    body=BotHookMessageBody,
    statuses=(401, 404, 409),
    ok_status=202,
)
async def hook_message(request: web.Request) -> web.Response:
    admin = request.app[SERVICES].bot_admin
    bot = await admin.authenticate_bot(request.match_info["site_id"], request.headers.get("Authorization"))
    body = await parse_body(request, BotHookMessageBody)
    buttons = [{"title": b.title, "payload": b.payload} for b in body.buttons]
    view = await admin.hook_message(bot, body.sender, body.text.strip(), buttons)
    return web.json_response({"message_id": view.id}, status=202)


@routes.api(
    "POST",
    HOOK + "/handover",
    "A webhook bot hands the conversation to people (Authorization: Bearer <bot token>)",
    access="none",
    body=BotHookHandoverBody,
    statuses=(401, 404, 409),
)
async def hook_handover(request: web.Request) -> web.Response:
    admin = request.app[SERVICES].bot_admin
    bot = await admin.authenticate_bot(request.match_info["site_id"], request.headers.get("Authorization"))
    body = await parse_body(request, BotHookHandoverBody)
    conv = await admin.hook_handover(bot, body.sender)
    return web.json_response({"status": conv.status})
