"""A widget site's origin may open `/visitor` and the widget's routes, never `/agent` or the staff API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
import socketio

from tests.conftest import AGENT_PASSWORD
from tests.helpers import SecantusProcess, ServerProcess, login_full

SHOP = "https://shop.example.eu"


@pytest.fixture(scope="module")
def site_server(secantus: SecantusProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("origins")
    sites = workdir / "sites.toml"
    sites.write_text(f'[sites.shop]\norigins = ["{SHOP}"]\n')
    server = ServerProcess(secantus.uri, workdir, env_extra={"CHAT_SITES_FILE": str(sites)}).start()
    server.create_user("origin@example.eu", AGENT_PASSWORD)
    yield server
    server.stop()


@pytest.fixture
async def cookie(site_server: ServerProcess) -> tuple[str, str]:
    return await login_full(site_server, "origin@example.eu", AGENT_PASSWORD)


class LeavingClient(socketio.AsyncClient):  # type: ignore[misc]
    """Leaves as a closed browser tab does. The stock client, on polling, waits for its open
    long-poll to return (up to the server's ping interval, 25 s) before `disconnect` returns."""

    async def disconnect(self) -> None:
        if self.eio.current_transport != "polling" or self.eio.state != "connected":
            await super().disconnect()
            return
        await self.eio.disconnect(abort=True)
        if self.eio.read_loop_task is not None:
            self.eio.read_loop_task.cancel()


async def connect(server: ServerProcess, namespace: str, transport: str, headers: dict[str, str], **kw: Any) -> Any:
    client = LeavingClient(reconnection=False)
    errors: list[Any] = []
    client.on("connect_error", lambda data: errors.append(data), namespace=namespace)
    try:
        # A copy: the client deletes the Cookie header from the dict it is given.
        await client.connect(server.url, namespaces=[namespace], transports=[transport], headers=dict(headers), **kw)
    except socketio.exceptions.ConnectionError:
        return errors[0] if errors else "refused"
    await client.disconnect()
    return None


@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_a_site_origin_cannot_open_agent(
    site_server: ServerProcess, cookie: tuple[str, str], transport: str
) -> None:
    headers = {"Cookie": f"chat_session={cookie[0]}", "Origin": SHOP}
    refused = await connect(site_server, "/agent", transport, headers)
    assert refused is not None and refused["data"]["code"] == "forbidden_origin"
    # The same cookie from the service's own origin connects.
    assert await connect(site_server, "/agent", transport, {**headers, "Origin": site_server.url}) is None


@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_a_site_origin_still_opens_visitor(site_server: ServerProcess, transport: str) -> None:
    assert await connect(site_server, "/visitor", transport, {"Origin": SHOP}, auth={"site": "shop"}) is None


async def test_polling_allows_credentials_only_for_staff_origins(
    site_server: ServerProcess, cookie: tuple[str, str]
) -> None:
    async def handshake(origin: str) -> aiohttp.ClientResponse:
        headers = {"Origin": origin, "Cookie": f"chat_session={cookie[0]}"}
        async with aiohttp.ClientSession() as session:
            async with session.get(site_server.url + "/socket.io/?EIO=4&transport=polling", headers=headers) as resp:
                await resp.read()
                return resp

    site = await handshake(SHOP)
    assert site.status == 200 and site.headers.get("Access-Control-Allow-Origin") == SHOP
    assert "Access-Control-Allow-Credentials" not in site.headers
    own = await handshake(site_server.url)
    assert own.headers.get("Access-Control-Allow-Credentials") == "true"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/session", None),
        ("GET", "/api/sessions", None),
        ("POST", "/api/session", {"email": "origin@example.eu", "password": AGENT_PASSWORD}),
        ("GET", "/api/users", None),
    ],
)
async def test_the_staff_api_refuses_a_site_origin(
    site_server: ServerProcess, cookie: tuple[str, str], method: str, path: str, body: Any
) -> None:
    headers = {"Origin": SHOP, "X-CSRF-Token": cookie[1]}
    async with (
        aiohttp.ClientSession(cookies={"chat_session": cookie[0]}) as session,
        session.request(method, site_server.url + path, json=body, headers=headers) as resp,
    ):
        problem = await resp.json(content_type=None)
        assert resp.status == 403 and problem["code"] == "forbidden_origin"
        assert "chat_session" not in resp.cookies


async def test_the_widget_routes_still_answer_a_site_origin(site_server: ServerProcess) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(site_server.url + "/api/widget/availability?site=shop", headers={"Origin": SHOP}) as resp,
    ):
        assert resp.status == 200
