"""Three nodes behind a real HAProxy (sticky cookie, WebSocket upgrade), one database, Redis.

Clients connect through HAProxy only. Socket.IO starts on long-polling and upgrades to WebSocket,
so a broken stickiness shows up as "invalid session" errors. A client is placed on a node by the
HAProxy cookie it presents (`chat_node=nX`), as a returning browser would be.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis
import socketio
from yarl import URL

from tests.helpers import Recorder, SecantusProcess, ServerProcess, free_port, new_hmac_keys_file, wait_for
from tests.waiting import eventually

REDIS_URL = "redis://127.0.0.1:6379/0"
PASSWORD = "correct horse battery staple"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
GRACE_S = 10
RECONNECT_S = 10.0  # a client's reconnect budget (HAProxy check interval + client back-off, with margin)
VISITORS_PER_NODE = 2
MESSAGES_PER_VISITOR = 10
LOAD_DEADLINE_S = 120  # the whole load; a bound, not a speed figure (2 shared cores)
CALL_TIMEOUT_S = 10


def haproxy_config(port: int, nodes: list[ServerProcess]) -> str:
    servers = "\n".join(f"  server n{i} 127.0.0.1:{node.port} check cookie n{i}" for i, node in enumerate(nodes))
    return f"""
global
  maxconn 2000
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  timeout tunnel 1h
  option redispatch
  retries 2
frontend chat
  bind 127.0.0.1:{port}
  default_backend nodes
backend nodes
  balance roundrobin
  cookie chat_node insert indirect nocache httponly
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 300ms fall 1 rise 2
{servers}
"""


@dataclass
class Cluster:
    nodes: list[ServerProcess]
    port: int
    proxy: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def session(self, node: int | None = None) -> aiohttp.ClientSession:
        """An HTTP session (own cookie jar, like one browser), placed on `node` if given."""
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        if node is not None:
            session.cookie_jar.update_cookies({"chat_node": f"n{node}"}, URL(self.url))
        return session

    def node_of(self, session: aiohttp.ClientSession) -> int:
        cookie = session.cookie_jar.filter_cookies(URL(self.url)).get("chat_node")
        assert cookie is not None, "HAProxy set no chat_node cookie"
        return int(cookie.value[1:])

    def routes_to(self, index: int) -> bool:
        """True when HAProxy sends a client holding node `index`'s cookie to that node."""
        request = urllib.request.Request(self.url + "/readyz", headers={"Cookie": f"chat_node=n{index}"})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
                # With "indirect", HAProxy sets no cookie when it honoured the one it got.
                return response.status == 200 and "Set-Cookie" not in response.headers
        except (urllib.error.URLError, OSError):
            return False

    def restart(self, index: int) -> None:
        self.nodes[index].start()  # same port: HAProxy takes it back after two good checks
        wait_for(lambda: self.routes_to(index), 30, what=f"HAProxy to route to node {index} again")


@pytest.fixture(scope="module")
def cluster(secantus: SecantusProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.exceptions.ConnectionError:
        pytest.fail("Redis is required on 127.0.0.1:6379 for the cluster test")
    if not Path(HAPROXY).exists():
        pytest.fail("HAProxy is required (scripts/install installs Debian's haproxy)")
    workdir = tmp_path_factory.mktemp("cluster")
    env = {
        "CHAT_HMAC_KEYS_FILE": str(new_hmac_keys_file(workdir / "hmac.keys")),
        "CHAT_REDIS_URL": REDIS_URL,
        "CHAT_DRAIN_GRACE_SECONDS": str(GRACE_S),
        "CHAT_LOG_LEVEL": "INFO",
        # The rolling restart's steady load sends faster than a person (the per-visitor limit's business).
        "CHAT_LIMIT_MESSAGES_PER_MINUTE": "100000",
    }
    first = ServerProcess(secantus.uri, workdir, env_extra=env)
    # One deployment: same database name, same key files (the shared workdir).
    nodes = [first] + [ServerProcess(secantus.uri, workdir, database=first.database, env_extra=env) for _ in range(2)]
    for node in nodes:
        node.start(wait=False)
    for node in nodes:
        wait_for(node._ready, 60, what=f"node {node.url}")
    port = free_port()
    config = workdir / "haproxy.cfg"
    config.write_text(haproxy_config(port, nodes))
    log = open(workdir / "haproxy.log", "ab")  # noqa: SIM115
    proxy = subprocess.Popen([HAPROXY, "-db", "-f", str(config)], stdout=log, stderr=log, start_new_session=True)
    log.close()
    cluster = Cluster(nodes, port, proxy)

    wait_for(lambda: all(cluster.routes_to(i) for i in range(3)), 30, what="HAProxy to see three ready nodes")
    first.create_user("a0@example.eu", PASSWORD)
    first.create_user("a1@example.eu", PASSWORD)
    first.create_user("a2@example.eu", PASSWORD)
    yield cluster
    proxy.terminate()
    proxy.wait(10)
    for node in nodes:
        node.stop()


@dataclass
class Client:
    """A Socket.IO client through HAProxy that reconnects by itself, like the widget and console."""

    cluster: Cluster
    namespace: str
    node: int | None = None
    session: aiohttp.ClientSession = field(init=False)
    sio: socketio.AsyncClient = field(init=False)
    events: Recorder = field(default_factory=Recorder)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    reconnects: int = 0
    closing: bool = False
    log: list[str] = field(default_factory=list)
    _again: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.session = self.cluster.session(self.node)
        self.sio = socketio.AsyncClient(
            reconnection=True,
            reconnection_delay=0.2,
            reconnection_delay_max=1.0,
            http_session=self.session,
        )
        for name in ("message", "conversation_created", "conversation_updated", "presence"):
            self.sio.on(name, self.events.handler(name), namespace=self.namespace)
        self.sio.on("connect", self._connected, namespace=self.namespace)
        self.sio.on("disconnect", self._disconnected, namespace=self.namespace)

    async def _connected(self) -> None:
        self.lost.clear()
        self.connected.set()

    async def _disconnected(self, reason: Any = None) -> None:
        self.connected.clear()
        self.lost.set()
        self.reconnects += 1
        if reason == socketio.AsyncClient.reason.SERVER_DISCONNECT and not self.closing:
            # As the widget does (widget/src/chat/session.ts): a server that closes us on its way
            # down leaves reconnecting to us, and HAProxy sends us to a live node.
            self._again = asyncio.create_task(self._reconnect())

    async def _reconnect(self) -> None:
        deadline = time.monotonic() + RECONNECT_S * 2
        delay = 0.2
        while time.monotonic() < deadline and not self.closing:
            if self.sio.eio.state == "disconnected":  # the handler runs while the old connection unwinds
                try:
                    await self.connect()
                    return
                except socketio.exceptions.ConnectionError as exc:
                    self.log.append(f"{time.monotonic():.1f} {exc!r}")
            await asyncio.sleep(delay)  # back-off between attempts, as a client does
            delay = min(delay * 2, 1.0)
        self.log.append(f"gave up in state {self.sio.eio.state}")

    async def login(self, email: str) -> None:
        async with self.session.post(
            self.cluster.url + "/api/session", json={"email": email, "password": PASSWORD}
        ) as r:
            assert r.status == 200, await r.text()

    async def connect(self) -> None:
        await self.sio.connect(self.cluster.url, namespaces=[self.namespace], wait_timeout=10)
        assert self.sio.transport() in ("polling", "websocket")

    async def call(self, event: str, payload: Any = None, timeout: float = CALL_TIMEOUT_S) -> Any:
        """Emit and wait for the ack; a lost connection fails the call at once (the widget then resends)."""
        lost = asyncio.create_task(self.lost.wait())
        acked = asyncio.create_task(self.sio.call(event, payload, namespace=self.namespace, timeout=timeout))
        done, _ = await asyncio.wait({lost, acked}, return_when=asyncio.FIRST_COMPLETED)
        lost.cancel()
        if acked not in done:
            acked.cancel()
            raise socketio.exceptions.DisconnectedError("connection lost before the ack")
        return acked.result()

    def on_node(self) -> int:
        return self.cluster.node_of(self.session)

    async def close(self) -> None:
        self.closing = True
        if self._again is not None:
            await self._again
        await self.sio.disconnect()
        await self.session.close()


@pytest.fixture
async def clients() -> AsyncIterator[list[Client]]:
    made: list[Client] = []
    yield made
    for client in made:
        await client.close()


async def agent(cluster: Cluster, clients: list[Client], node: int, email: str) -> Client:
    client = Client(cluster, "/agent", node)
    clients.append(client)
    await client.login(email)
    await client.connect()
    assert client.on_node() == node
    return client


async def visitor(cluster: Cluster, clients: list[Client], node: int) -> Client:
    client = Client(cluster, "/visitor", node)
    clients.append(client)
    await client.connect()
    assert client.on_node() == node
    return client


async def test_visitors_and_agents_on_different_nodes_talk_live_and_see_claims(
    cluster: Cluster, clients: list[Client]
) -> None:
    agents = [await agent(cluster, clients, i, f"a{i}@example.eu") for i in range(3)]
    guest = await visitor(cluster, clients, 0)
    await eventually(lambda: guest.sio.transport() == "websocket", what="the upgrade to WebSocket through HAProxy")

    ack = await guest.call("message", {"client_id": "live-1", "text": "hello from node 0"})
    assert ack["ok"], ack
    conversation_id = ack["conversation_id"]
    for each in agents:
        created = await each.events.next("conversation_created")
        assert created["message"]["text"] == "hello from node 0"

    claimed = await agents[1].call("claim", {"conversation_id": conversation_id})
    assert claimed["ok"], claimed
    for each in (agents[0], agents[2]):
        updated = await each.events.next("conversation_updated")
        assert updated["conversation"]["id"] == conversation_id
        assert updated["conversation"]["assigned_agent_id"] == claimed["conversation"]["assigned_agent_id"]
    lost = await agents[2].call("claim", {"conversation_id": conversation_id})
    assert not lost["ok"] and lost["error"]["code"] == "conflict"

    reply = await agents[1].call(
        "reply", {"conversation_id": conversation_id, "client_id": "r1", "text": "from node 1"}
    )
    assert reply["ok"], reply
    assert (await guest.events.next("message"))["message"]["text"] == "from node 1"


@dataclass
class Load:
    """Visitors that each send numbered messages, resending (same client_id) until acknowledged."""

    visitors: list[Client]
    acked: dict[str, str] = field(default_factory=dict)  # client_id -> conversation_id
    tokens: dict[int, str] = field(default_factory=dict)
    progress: asyncio.Event = field(default_factory=asyncio.Event)
    first_ack_after: dict[int, float] = field(default_factory=dict)
    stopped_at: float | None = None
    deadline: float = field(default_factory=lambda: time.monotonic() + LOAD_DEADLINE_S)
    trouble: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    messages: int = MESSAGES_PER_VISITOR
    pace_s: float = 0.0  # between one visitor's messages (a steady load rather than a burst)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run_one(self, index: int, client: Client, trigger_at: int) -> None:
        resume, seen = False, client.reconnects
        for k in range(self.messages):
            if self.stop.is_set():
                return
            if k and self.pace_s:
                await asyncio.sleep(self.pace_s)
            client_id = f"v{index}-{k}"
            while True:
                assert time.monotonic() < self.deadline, f"{client_id} never acknowledged: {self.trouble[index][-5:]}"
                try:
                    await asyncio.wait_for(client.connected.wait(), RECONNECT_S * 2)
                except TimeoutError:
                    raise AssertionError(f"{client_id}: {client.log[-6:]} {client.reconnects}") from None
                try:
                    # Like the widget: after any reconnect, resume the conversation before sending.
                    if (resume or client.reconnects != seen) and index in self.tokens:
                        resumed = await client.call("resume", {"token": self.tokens[index]})
                        if not resumed["ok"]:
                            self.trouble[index].append(f"resume: {resumed}")
                            continue
                        resume, seen = False, client.reconnects
                    ack = await client.call("message", {"client_id": client_id, "text": f"load {client_id}"})
                except (TimeoutError, socketio.exceptions.SocketIOError) as exc:
                    self.trouble[index].append(f"{time.monotonic():.1f} {exc!r} {client.sio.connected}")
                    resume = True
                    continue
                if not ack["ok"]:
                    assert ack["error"]["code"] in {"internal_error", "unavailable"}, ack
                    continue
                break
            if "token" in ack:
                self.tokens[index] = ack["token"]
            self.acked[client_id] = ack["conversation_id"]
            if self.stopped_at is not None and index not in self.first_ack_after:
                self.first_ack_after[index] = time.monotonic() - self.stopped_at
            if len(self.acked) >= trigger_at:
                self.progress.set()


async def run_load_and_stop_a_node(
    cluster: Cluster, clients: list[Client], victim: int, sig: signal.Signals, before_stop: Any = None
) -> Load:
    observer = await agent(cluster, clients, (victim + 1) % 3, "a0@example.eu")
    visitors = [await visitor(cluster, clients, node) for node in range(3) for _ in range(VISITORS_PER_NODE)]
    load = Load(visitors)
    total = len(visitors) * MESSAGES_PER_VISITOR
    tasks = [asyncio.create_task(load.run_one(i, v, total // 3)) for i, v in enumerate(visitors)]
    await asyncio.wait_for(load.progress.wait(), 60)
    node = cluster.nodes[victim]
    assert node.proc is not None
    if before_stop is not None:
        before_stop()
    node.proc.send_signal(sig)
    load.stopped_at = time.monotonic()
    stopped = time.monotonic()
    code = await asyncio.to_thread(node.proc.wait, GRACE_S + 5)
    exit_s = time.monotonic() - stopped
    await asyncio.gather(*tasks)

    assert len(load.acked) == total
    moved = [v for v in visitors if v.node == victim]
    for v in moved:
        # A visitor that had sent all its messages before the stop reconnects in the background.
        await eventually(
            lambda v=v: v.reconnects >= 1 and v.connected.is_set(), timeout=RECONNECT_S * 2, what="the reconnect"
        )
        cookies = [(c.key, c.value) for c in v.session.cookie_jar]
        assert v.on_node() != victim, f"still on the stopped node: {v.log} {v.reconnects} {v.sio.connected} {cookies}"
        assert v.reconnects >= 1
    if sig == signal.SIGTERM:
        assert code == 0 and exit_s < GRACE_S, (code, exit_s)
        assert "drain_done" in node.logs()

    # Every acknowledged message is stored exactly once, in order, and shown once to the agent.
    by_conversation: dict[str, list[str]] = {}
    for client_id, conversation_id in load.acked.items():
        by_conversation.setdefault(conversation_id, []).append(f"load {client_id}")
    assert len(by_conversation) == len(visitors)
    for conversation_id, expected in by_conversation.items():
        opened = await observer.call("open", {"conversation_id": conversation_id})
        assert opened["ok"], opened
        shown = [m["text"] for m in opened["messages"]]
        assert shown == sorted(expected, key=lambda t: int(t.rsplit("-", 1)[1])), conversation_id
    return load


async def test_sigterm_drains_a_node_under_load_without_losing_or_duplicating(
    cluster: Cluster, clients: list[Client]
) -> None:
    try:
        await run_load_and_stop_a_node(cluster, clients, victim=0, sig=signal.SIGTERM)
    finally:
        await asyncio.to_thread(cluster.restart, 0)


async def test_sigkill_a_node_clients_resume_elsewhere_and_presence_recovers(
    cluster: Cluster, clients: list[Client]
) -> None:
    victim = 2
    watched = await agent(cluster, clients, victim, "a2@example.eu")
    try:
        load = await run_load_and_stop_a_node(
            cluster, clients, victim=victim, sig=signal.SIGKILL, before_stop=watched.events.events["presence"].__init__
        )
        moved = [i for i, v in enumerate(load.visitors) if v.node == victim]
        assert moved and all(load.first_ack_after[i] < RECONNECT_S for i in moved), load.first_ack_after

        await asyncio.wait_for(watched.connected.wait(), RECONNECT_S)
        assert watched.on_node() != victim
        # The reconnected agent is announced online to colleagues and listed online.
        colleagues = (await watched.call("agents"))["agents"]
        me = next(a for a in colleagues if a["display_name"] == "a2")
        assert me["online"]
        seen = [await watched.events.next("presence") for _ in range(watched.events.pending("presence"))]
        assert {"user_id": me["id"], "online": True, "status": "online"} in seen
    finally:
        await asyncio.to_thread(cluster.restart, victim)


async def test_rolling_restart_of_all_three_nodes_under_load_loses_and_duplicates_nothing(
    cluster: Cluster, clients: list[Client]
) -> None:
    """SIGTERM each node in turn while visitors on every node keep writing; restart it before the next."""
    visitors = [await visitor(cluster, clients, node) for node in range(3) for _ in range(VISITORS_PER_NODE)]
    load = Load(visitors, messages=2000, pace_s=0.1)
    load.deadline = time.monotonic() + LOAD_DEADLINE_S * 3
    tasks = [asyncio.create_task(load.run_one(i, v, len(visitors) * 2)) for i, v in enumerate(visitors)]
    try:
        await asyncio.wait_for(load.progress.wait(), 60)
        for index, node in enumerate(cluster.nodes):
            assert node.proc is not None
            before = len(load.acked)
            node.proc.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(node.proc.wait, GRACE_S + 5)
            assert code == 0, f"node {index} exited with {code}"
            await asyncio.to_thread(cluster.restart, index)
            # The load went on through the restart and goes on after it.
            await eventually(
                lambda before=before: len(load.acked) >= before + len(visitors) or None,
                timeout=RECONNECT_S * 3,
                what=f"acknowledgements after restarting node {index}",
            )
    finally:
        load.stop.set()
        await asyncio.gather(*tasks)

    # Every node served again, and every acknowledged message is stored exactly once, nothing else.
    assert all(cluster.routes_to(i) for i in range(3))
    assert all(v.reconnects >= 1 for v in visitors)  # each visitor's node was restarted once
    db = cluster.nodes[0].db()
    by_conversation: dict[str, set[str]] = defaultdict(set)
    for client_id, conversation_id in load.acked.items():
        by_conversation[conversation_id].add(client_id)
    assert len(by_conversation) == len(visitors)
    for conversation_id, acked in by_conversation.items():
        stored = [m["client_id"] for m in db.messages.find({"conversation_id": conversation_id}, {"client_id": 1})]
        assert len(stored) == len(set(stored)) and set(stored) == acked, conversation_id
    observer = await agent(cluster, clients, 1, "a1@example.eu")
    for conversation_id, acked in by_conversation.items():
        opened = await observer.call("open", {"conversation_id": conversation_id})
        shown = [m["text"] for m in opened["messages"]]
        assert len(shown) == len(set(shown)) == min(len(acked), 200)  # shown once each (history: last 200)
