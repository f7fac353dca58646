"""The widget's HTTP side: cache headers, the stateless availability check, per-site origins."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import socketio

from tests.conftest import AGENT_EMAIL, AGENT_PASSWORD
from tests.helpers import REPO, SecantusProcess, ServerProcess, agent_client, login
from tests.waiting import eventually

SHOP = "http://shop.localhost:8001"
BLOG = "http://blog.localhost:8002"
MANIFEST = REPO / "chat_service" / "web" / "static" / "manifest.json"

pytestmark = pytest.mark.skipif(not MANIFEST.exists(), reason="widget not built: run scripts/install")


@pytest.fixture
def chat(secantus: SecantusProcess, tmp_path: Path) -> Iterator[ServerProcess]:
    sites = tmp_path / "sites.toml"
    sites.write_text(
        f'[sites.shop]\norigins = ["{SHOP}"]\nnotice_version = "7"\n'
        f'[sites.shop.notice.nl]\ntext = "Winkelmelding"\n'
        f'[sites.blog]\norigins = ["{BLOG}"]\n'
    )
    env = {"CHAT_SITES_FILE": str(sites)}  # the sites file alone admits their origins
    proc = ServerProcess(secantus.uri, tmp_path / "server", env_extra=env).start()
    yield proc
    proc.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


async def test_the_loader_has_a_short_cache_and_the_bundle_a_long_immutable_one(
    chat: ServerProcess, http: aiohttp.ClientSession
) -> None:
    bundle = json.loads(MANIFEST.read_text())["bundle"]
    async with http.get(chat.url + "/widget.js", headers={"Accept-Encoding": "gzip"}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/javascript")
        assert resp.headers["Cache-Control"] == "public, max-age=300"
        assert resp.headers["Content-Encoding"] == "gzip"
        assert "Set-Cookie" not in resp.headers
        loader = gzip.decompress(await resp.read()).decode()
        etag = resp.headers["ETag"]
    assert bundle in loader  # the loader names the current bundle
    async with http.get(chat.url + "/widget.js", headers={"Accept-Encoding": "gzip", "If-None-Match": etag}) as resp:
        assert resp.status == 304
    async with http.get(f"{chat.url}/widget/{bundle}", headers={"Accept-Encoding": "identity"}) as resp:
        assert resp.status == 200
        assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert resp.headers["Access-Control-Allow-Origin"] == "*"  # imported as a module cross-origin
        assert "Content-Encoding" not in resp.headers
    # A loader cached from before a deploy still finds a bundle.
    async with http.get(chat.url + "/widget/chat-000000000000.js", allow_redirects=False) as resp:
        assert resp.status == 302
        assert resp.headers["Location"] == f"/widget/{bundle}"
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
    async with http.get(chat.url + "/widget/other.js") as resp:
        assert resp.status == 404


async def test_availability_is_stateless_and_answers_only_the_sites_origins(
    chat: ServerProcess, http: aiohttp.ClientSession
) -> None:
    url = chat.url + "/api/widget/availability"
    async with http.get(url, params={"site": "shop", "lang": "nl"}, headers={"Origin": SHOP}) as resp:
        assert resp.status == 200
        assert resp.headers["Access-Control-Allow-Origin"] == SHOP
        assert resp.headers["Cache-Control"] == "no-store"
        assert "Set-Cookie" not in resp.headers
        body = await resp.json()
    assert body == {
        "online": False,
        "reply_time": None,  # no answered conversations to go on
        "notice": {"version": "7", "text": "Winkelmelding", "link": None},
        "bot": None,  # this site has no bot
    }

    async with http.get(url, params={"site": "shop"}, headers={"Origin": BLOG}) as resp:
        assert resp.status == 403
        assert "Access-Control-Allow-Origin" not in resp.headers
    async with http.get(url, params={"site": "nope"}, headers={"Origin": SHOP}) as resp:
        assert resp.status == 404

    chat.create_user(AGENT_EMAIL, AGENT_PASSWORD)
    agent, _ = await agent_client(chat, await login(chat, AGENT_EMAIL, AGENT_PASSWORD))
    async with http.get(url, params={"site": "shop"}) as resp:
        assert (await resp.json())["online"] is True
    await agent.disconnect()

    async def nobody_online() -> bool:
        async with http.get(url, params={"site": "shop"}) as resp:
            return (await resp.json())["online"] is False

    await eventually(nobody_online, what="the agent to count as gone")

    db = chat.db()
    assert [db[name].count_documents({}) for name in ("conversations", "messages", "data_keys")] == [0, 0, 0]


async def test_a_visitor_socket_must_come_from_its_sites_origin(chat: ServerProcess) -> None:
    async def connect(site: str, origin: str) -> socketio.AsyncClient:
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(
            chat.url, namespaces=["/visitor"], transports=["websocket"], headers={"Origin": origin}, auth={"site": site}
        )
        return client

    allowed = await connect("shop", SHOP)
    await allowed.disconnect()
    for site, origin in (("blog", SHOP), ("unknown", SHOP), ("shop", "https://evil.example"), ("blog", "null")):
        with pytest.raises(socketio.exceptions.ConnectionError):
            await connect(site, origin)


async def test_dev_mode_serves_a_demo_page_under_a_strict_csp(chat: ServerProcess, http: aiohttp.ClientSession) -> None:
    async with http.get(chat.url + "/") as resp:
        assert resp.status == 200
        csp = resp.headers["Content-Security-Policy"]
        html = await resp.text()
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert '<script src="/widget.js" data-site="demo"' in html
    assert 'href="/console/"' in html
