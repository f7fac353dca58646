"""The widget's public site look, the logo, the reply-time hint, agents' names and "seen" receipts,
against a real server process and SecantusDB."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from tests.conftest import AGENT_PASSWORD
from tests.helpers import SecantusProcess, ServerProcess, agent_client, call, login, visitor_client, wait_for

SHOP = "http://shop.localhost:8001"
BLOG = "http://blog.localhost:8002"


def png(color: str = "#9a3412") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (48, 48), color).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def chat(secantus: SecantusProcess, tmp_path: Path) -> Iterator[ServerProcess]:
    (tmp_path / "logo.png").write_bytes(png())
    sites = tmp_path / "sites.toml"
    sites.write_text(
        f"""
[sites.shop]
origins = ["{SHOP}"]
team_name = "Bakkerij De Korenbloem"
logo = "logo.png"
greeting = {{ en = "Hello! Ask us anything.", nl = "Hallo! Vraag maar." }}
[sites.shop.theme]
color = "#FC0"
position = "left"
launcher = {{ en = "Questions?", nl = "Vragen?" }}
[sites.blog]
origins = ["{BLOG}"]
show_agent_names = false
"""
    )
    proc = ServerProcess(secantus.uri, tmp_path / "server", env_extra={"CHAT_SITES_FILE": str(sites)}).start()
    yield proc
    proc.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_the_site_look_is_public_cacheable_and_answers_only_the_sites_origins(
    chat: ServerProcess, http: aiohttp.ClientSession
) -> None:
    url = chat.url + "/api/widget/site"
    async with http.get(url, params={"site": "shop", "lang": "nl"}, headers={"Origin": SHOP}) as resp:
        assert resp.status == 200
        assert resp.headers["Access-Control-Allow-Origin"] == SHOP
        assert resp.headers["Cache-Control"] == "public, max-age=300"
        assert resp.headers["Vary"] == "Origin"
        assert "Set-Cookie" not in resp.headers
        body = await resp.json()
    logo = body.pop("logo")
    assert logo.startswith("/widget/logo/shop/")
    assert body == {
        "team_name": "Bakkerij De Korenbloem",
        "greeting": "Hallo! Vraag maar.",
        "color": "#ffcc00",
        "text_color": "#000000",  # black reads better on yellow
        "position": "left",
        "launcher": "Vragen?",
    }
    async with http.get(url, params={"site": "blog"}, headers={"Origin": BLOG}) as resp:
        assert await resp.json() == {
            "team_name": None,
            "logo": None,
            "greeting": None,
            "color": "#1f5fbf",
            "text_color": "#ffffff",
            "position": "right",
            "launcher": None,
        }
    async with http.get(url, params={"site": "shop"}, headers={"Origin": BLOG}) as resp:
        assert resp.status == 403
        assert "Access-Control-Allow-Origin" not in resp.headers
    async with http.get(url, params={"site": "nope"}, headers={"Origin": SHOP}) as resp:
        assert resp.status == 404
    async with http.get(url, params={"site": "bad id!"}) as resp:
        assert resp.status == 404
    assert {n: chat.db()[n].count_documents({}) for n in ("conversations", "messages")} == {
        "conversations": 0,
        "messages": 0,
    }


async def test_the_logo_is_served_by_us_as_an_image_and_nothing_else(
    chat: ServerProcess, http: aiohttp.ClientSession
) -> None:
    async with http.get(chat.url + "/api/widget/site", params={"site": "shop"}) as resp:
        logo = (await resp.json())["logo"]
    async with http.get(chat.url + logo) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "image/png"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
        assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert resp.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
        assert "Set-Cookie" not in resp.headers
        assert await resp.read() == png()
    # A page that knew an older logo is sent to the current one.
    async with http.get(chat.url + "/widget/logo/shop/0000000000000000", allow_redirects=False) as resp:
        assert resp.status == 302
        assert resp.headers["Location"] == logo
    for path in ("/widget/logo/blog/0000000000000000", "/widget/logo/nope/0000000000000000"):
        async with http.get(chat.url + path) as resp:
            assert resp.status == 404


async def reply_time(http: aiohttp.ClientSession, chat: ServerProcess, site: str) -> Any:
    async with http.get(chat.url + "/api/widget/availability", params={"site": site}) as resp:
        assert resp.status == 200
        return (await resp.json())["reply_time"]


def answered_after(chat: ServerProcess, site: str, delays: list[timedelta], prefix: str) -> None:
    """Conversations the way storage keeps them (timestamps only), each answered after `delay`."""
    db = chat.db()
    now = datetime.now(UTC)
    for i, delay in enumerate(delays):
        started = now - delay - timedelta(minutes=1)
        conversation_id = f"c{prefix}{i:023x}"
        db.conversations.insert_one(
            {
                "_id": conversation_id,
                "site_id": site,
                "status": "open",
                "offline": False,
                "created_at": started,
                "last_activity_at": now,
            }
        )
        db.messages.insert_many(
            [
                {
                    "_id": f"m{prefix}{i}v",
                    "conversation_id": conversation_id,
                    "sender": "visitor",
                    "client_id": "v",
                    "created_at": started,
                },
                {
                    "_id": f"m{prefix}{i}a",
                    "conversation_id": conversation_id,
                    "sender": "agent",
                    "client_id": "a",
                    "created_at": started + delay,
                },
                {
                    "_id": f"m{prefix}{i}b",
                    "conversation_id": conversation_id,
                    "sender": "agent",
                    "client_id": "b",
                    "created_at": now,
                },
            ]
        )


async def test_reply_time_is_the_median_first_response_bucket_and_is_cached(
    chat: ServerProcess, http: aiohttp.ClientSession
) -> None:
    answered_after(chat, "shop", [timedelta(minutes=m) for m in (20, 45, 50, 300)], "1")
    # Offline ("leave a message") conversations are answered by e-mail: they do not count.
    answered_after(chat, "blog", [timedelta(minutes=1)] * 3, "2")
    chat.db().conversations.update_many({"site_id": "blog"}, {"$set": {"offline": True}})
    assert await reply_time(http, chat, "shop") == "hour"  # median 47.5 minutes; the blog's are not mixed in
    assert await reply_time(http, chat, "blog") is None

    # Faster answers since: the figure is kept for minutes, not recomputed per request.
    answered_after(chat, "shop", [timedelta(seconds=30)] * 6, "3")
    assert await reply_time(http, chat, "shop") == "hour"


async def test_reply_time_buckets_from_a_fresh_server(secantus: SecantusProcess, tmp_path: Path) -> None:
    sites = tmp_path / "sites.toml"
    sites.write_text("[sites.a]\n[sites.b]\n[sites.c]\n[sites.d]\n")
    chat = ServerProcess(secantus.uri, tmp_path / "server", env_extra={"CHAT_SITES_FILE": str(sites)}).start()
    try:
        answered_after(chat, "a", [timedelta(minutes=2)] * 3, "4")
        answered_after(chat, "b", [timedelta(hours=3)] * 3, "5")
        answered_after(chat, "c", [timedelta(hours=20)] * 3, "6")
        answered_after(chat, "d", [timedelta(days=3)] * 3, "7")  # slower than a day promises nothing
        async with aiohttp.ClientSession() as http:
            assert [await reply_time(http, chat, s) for s in "abcd"] == ["minutes", "hours", "day", None]
    finally:
        chat.stop()


async def named_agent(chat: ServerProcess) -> str:
    email = "anna@example.eu"
    result = chat.run_cli(
        "users",
        "create",
        email,
        "--role",
        "agent",
        "--name",
        "Anna de Vries",
        "--password-stdin",
        stdin=AGENT_PASSWORD + "\n",
    )
    assert result.returncode == 0, result.stderr
    return await login(chat, email, AGENT_PASSWORD)


async def test_visitors_see_the_agents_first_name_unless_the_site_hides_names(chat: ServerProcess) -> None:
    agent, _ = await agent_client(chat, await named_agent(chat))
    try:
        for site, expected in (("shop", {"name": "Anna"}), ("blog", None)):
            visitor, events = await visitor_client(chat)
            ack = await call(
                visitor, "/visitor", "message", {"client_id": "v" + site, "text": "Hallo", "site_id": site}
            )
            conversation_id, token = ack["conversation_id"], ack["token"]
            sent = await call(
                agent, "/agent", "reply", {"conversation_id": conversation_id, "client_id": "a1", "text": "Hoi!"}
            )
            assert sent["ok"], sent
            live = (await events.next("message"))["message"]
            assert live.get("agent") == expected
            assert "agent_id" not in live and "anna@" not in str(live) and "Vries" not in str(live)
            await visitor.disconnect()

            # The same on resumed history.
            again, _ = await visitor_client(chat)
            resumed = await call(again, "/visitor", "resume", {"token": token})
            assert [m.get("agent") for m in resumed["messages"]] == [None, expected]
            await again.disconnect()
    finally:
        await agent.disconnect()


async def test_seen_receipts_come_from_the_agents_read_position_and_store_nothing_new(chat: ServerProcess) -> None:
    agent, _ = await agent_client(chat, await named_agent(chat))
    visitor, events = await visitor_client(chat)
    try:
        first = await call(visitor, "/visitor", "message", {"client_id": "s1", "text": "Eén", "site_id": "shop"})
        second = await call(visitor, "/visitor", "message", {"client_id": "s2", "text": "Twee"})
        conversation_id = first["conversation_id"]
        db = chat.db()
        # The conversation's count and the report's roll-up are folded in just behind the acks.
        wait_for(
            lambda: (db.conversations.find_one({"_id": conversation_id}) or {}).get("message_count") == 2,
            what="the bookkeeping folded in",
        )
        before = {name: db[name].count_documents({}) for name in db.list_collection_names()}
        assert events.pending("seen") == 0

        assert await call(agent, "/agent", "read", {"conversation_id": conversation_id, "seen": 1}) == {"ok": True}
        assert await events.next("seen") == {"until": first["message"]["created_at"]}
        await call(agent, "/agent", "read", {"conversation_id": conversation_id, "seen": 2})
        assert await events.next("seen") == {"until": second["message"]["created_at"]}

        # What the agents' read positions already keep, nothing else: one read row for this agent.
        after = {name: db[name].count_documents({}) for name in db.list_collection_names()}
        grown = {name for name in after if after[name] != before.get(name, 0)}
        assert grown <= {"conversation_reads", "audit_events"}, grown
        reads = list(db.conversation_reads.find({"conversation_id": conversation_id}))
        assert len(reads) == 1 and set(reads[0]) == {"_id", "conversation_id", "user_id", "seen"}

        # A visitor coming back is told how far agents have read.
        again, _ = await visitor_client(chat)
        resumed = await call(again, "/visitor", "resume", {"token": first["token"]})
        assert resumed["seen_until"] == second["message"]["created_at"]
        await again.disconnect()
    finally:
        await visitor.disconnect()
        await agent.disconnect()


async def test_nothing_seen_yet_resumes_with_null(chat: ServerProcess) -> None:
    visitor, _ = await visitor_client(chat)
    ack = await call(visitor, "/visitor", "message", {"client_id": "n1", "text": "Hallo", "site_id": "shop"})
    await visitor.disconnect()
    again, _ = await visitor_client(chat)
    resumed = await call(again, "/visitor", "resume", {"token": ack["token"]})
    assert resumed["ok"] and resumed["seen_until"] is None
    await again.disconnect()
