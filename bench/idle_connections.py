"""Memory per idle visitor connection: RSS of one chat server process holding N idle sockets.

    .venv/bin/python bench/idle_connections.py --connections 10000 [--json] [--target bare|node]

Starts SecantusDB and a real chat server (`python -m chat_service run`), measures the server's
RSS (VmRSS from /proc), opens N visitor connections over websocket (each a real Engine.IO /
Socket.IO handshake to `/visitor`, answering the server's pings like a browser tab), waits until
the RSS settles, and reports (RSS after - RSS before) / N in KB. The clients are bare aiohttp
websockets speaking the protocol, so the load generator stays light; the server side is the full
python-socketio stack with our `on_connect` (session, lock, visitor context).

`--target bare` (or `node`) measures `bench/bare_relay.py` (or `bench/relay_node.js`) instead: the
floor that python-socketio (or Node.js socket.io) itself needs per connection.

The fd limit is raised to the hard limit for this process and the server (it inherits it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.chat_latency import BENCH_LIMITS, NodeRelayProcess, RelayProcess  # noqa: E402
from tests.helpers import SecantusProcess, ServerProcess  # noqa: E402

CONNECT_CONCURRENCY = 50


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def raise_fd_limit(needed: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class IdleVisitor:
    """One browser tab that opened the widget and never wrote: Engine.IO v4 over websocket."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.task: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self.ws = await self.session.ws_connect(self.url, headers={"User-Agent": "idle-connections-bench"})
        opened = await self.ws.receive_str()
        if not opened.startswith("0"):
            raise RuntimeError(f"unexpected open packet {opened[:80]!r}")
        await self.ws.send_str("40/visitor,")
        while True:
            packet = await self.ws.receive_str()
            if packet.startswith("40/visitor,"):
                break
            if packet.startswith("44/visitor,"):
                raise RuntimeError(f"connection refused: {packet[:200]}")
        self.task = asyncio.create_task(self.keep_alive())

    async def keep_alive(self) -> None:
        assert self.ws is not None
        async for message in self.ws:
            if message.type == aiohttp.WSMsgType.TEXT and message.data == "2":
                await self.ws.send_str("3")

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if self.ws is not None:
            await self.ws.close()


async def settle(pid: int, quiet_s: float = 3.0, limit_s: float = 60.0) -> int:
    """RSS once it changed by less than 1% over `quiet_s` (or after `limit_s`)."""
    deadline = time.monotonic() + limit_s
    last = rss_kb(pid)
    while time.monotonic() < deadline:
        await asyncio.sleep(quiet_s)
        now = rss_kb(pid)
        if abs(now - last) <= last * 0.01:
            return now
        last = now
    return last


async def measure(url: str, pid: int, connections: int) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        # Warm up: the first connections load code paths and caches that every later one shares.
        warm = [IdleVisitor(session, url) for _ in range(20)]
        for visitor in warm:
            await visitor.connect()
        before = await settle(pid)
        visitors = [IdleVisitor(session, url) for _ in range(connections)]
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        started = time.perf_counter()

        async def bounded(visitor: IdleVisitor) -> None:
            async with gate:
                await visitor.connect()

        await asyncio.gather(*(bounded(v) for v in visitors))
        connect_s = time.perf_counter() - started
        after = await settle(pid)
        alive = sum(1 for v in visitors if v.ws is not None and not v.ws.closed)
        await asyncio.gather(*(v.close() for v in warm + visitors), return_exceptions=True)
    per_connection = (after - before) / connections
    return {
        "connections": connections,
        "alive_at_measurement": alive,
        "rss_before_kb": before,
        "rss_after_kb": after,
        "kb_per_connection": round(per_connection, 2),
        "connect_s": round(connect_s, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser.add_argument("--target", choices=["chat", "bare", "node"], default="chat")
    args = parser.parse_args(argv)
    limit = raise_fd_limit(args.connections + 1024)
    if limit < args.connections + 256:
        print(f"the fd limit is {limit}: too low for {args.connections} connections", file=sys.stderr)
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="idle-connections-"))
    secantus = SecantusProcess(workdir / "db")
    server = ServerProcess("", workdir / "server", env_extra={"CHAT_LOG_LEVEL": "WARNING", **BENCH_LIMITS})
    relay = {"bare": RelayProcess, "node": NodeRelayProcess}[args.target](workdir) if args.target != "chat" else None
    try:
        if relay is not None:
            relay.start()
            assert relay.proc is not None
            url, pid = relay.url, relay.proc.pid
        else:
            secantus.start()
            server.mongodb_uri = secantus.uri
            server.start()
            assert server.proc is not None
            url, pid = server.url, server.proc.pid
        result = {"target": args.target, **asyncio.run(measure(url, pid, args.connections))}
        print(
            f"{result['connections']} idle visitor connections ({result['alive_at_measurement']} alive when measured): "
            f"server RSS {result['rss_before_kb'] / 1024:.1f} MB -> {result['rss_after_kb'] / 1024:.1f} MB, "
            f"{result['kb_per_connection']:.1f} KB per connection (connected in {result['connect_s']} s)"
        )
        if args.json:
            print(json.dumps(result))
    finally:
        if relay is not None:
            relay.stop()
        server.stop()
        secantus.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
