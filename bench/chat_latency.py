"""Visitor→agent delivery latency: the chat server versus bare python-socketio and Node.js relays.

    .venv/bin/python bench/chat_latency.py --conversations 200 --rate 1 --duration 30 [--json]
    .venv/bin/python bench/chat_latency.py --find-capacity --overload 2 --conversations 500 --duration 10 --json

Starts SecantusDB, a real chat server (`python -m chat_service run`, log level WARNING),
`bench/bare_relay.py` and `bench/relay_node.js` (socket.io 4.8; `npm ci` in bench/ on first use),
each as its own process on 127.0.0.1. For each target in turn, one
agent client (configurable with --agents; the `agents` room receives every visitor message)
and N visitor clients connect over websocket; every visitor sends --rate messages per second on
a fixed schedule (random start offset, no jitter) for --duration seconds, without waiting for
acks (open loop), except that its first message is awaited because it creates the conversation.

Measured, all in this one process with one clock (`time.perf_counter`):
  delivery  emit → the agent receives `message` / `conversation_created` carrying that text
  ack       emit → the visitor receives the ack (for the chat server: stored on disk)
plus acks/s, the stored message count in MongoDB (and whether every acknowledged message id is
stored), and the CPU time every process used.

`--json` prints one JSON object as the last line: `{"targets": {"bare": {...}, "node": {...},
"chat": {...}}}`, each with `sent`, `acked`, `stored` (chat only), `p50_ms`, `p95_ms`, `p99_ms`
(delivery) and `ack_p99_ms`. `--find-capacity` runs the chat server alone at rising offered rates
(`--conversations` visitors sharing it) until its ack p99 passes 100 ms (or it falls behind), and
reports the highest rate it sustained as `capacity_msgs_per_s`; with `--overload 2` it then offers
twice that for `--overload-duration` s and reports what was achieved and whether any acknowledged
message is missing from the database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import pymongo  # noqa: E402
import socketio  # noqa: E402

from tests.helpers import SecantusProcess, ServerProcess, free_port, login, wait_for  # noqa: E402

AGENT_EMAIL = "bench-agent@example.eu"
# Every client of a benchmark comes from 127.0.0.1: the per-address abuse limits would refuse all
# but the first few (they are tested in tests/test_abuse_limits.py, not measured here).
BENCH_LIMITS = {
    "CHAT_LIMIT_CONNECTIONS_PER_ADDRESS": "100000",
    "CHAT_LIMIT_CONVERSATIONS_PER_HOUR": "1000000",
    "CHAT_LIMIT_MESSAGES_PER_MINUTE": "100000",
}
AGENT_PASSWORD = "bench correct horse battery staple"
TARGET_RATIO = 1.5
CLK_TCK = os.sysconf("SC_CLK_TCK")
CONNECT_CONCURRENCY = 20
STEADY_AFTER_S = 5.0
# Above these the load generator, not the server, may be what is being measured.
CLIENT_CPU_LIMIT = 0.85  # of one core
CLIENT_LAG_LIMIT_MS = 20.0
FOREIGN_CPU_LIMIT = 0.15  # of one core, used by processes outside the benchmark


# --- process CPU accounting -----------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 2 (comm) may contain spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its live descendants, all threads included."""
    total = 0
    for each in _descendants(pid):
        fields = _stat_fields(each)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])  # stat fields 14 and 15
    return total / CLK_TCK


def host_busy_seconds() -> float:
    """CPU time all CPUs of the host spent busy (not idle, not waiting on I/O), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- statistics -----------------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile of unsorted values; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values) if values else math.nan,
    }


def per_second(times: list[float], window: tuple[float, float]) -> list[int]:
    """Events per whole second of the send window."""
    buckets = [0] * max(1, int(window[1] - window[0]))
    for at in times:
        slot = int(at - window[0])
        if 0 <= slot < len(buckets):
            buckets[slot] += 1
    return buckets


def fmt_ms(values: list[float]) -> str:
    s = summary(values)
    return "  ".join(f"{name} {s[name]:8.2f}" for name in ("p50", "p95", "p99", "max")) + f"   (n={len(values)})"


# --- one load run ---------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    url: str
    agent_headers: dict[str, str]
    processes: dict[str, int]  # label -> pid, CPU accounted during the run


@dataclass
class RunResult:
    target: Target
    visitors: int
    agents: int
    duration: float
    rate: float = 0.0
    sent: int = 0
    acked_ok: int = 0
    acks_in_window: int = 0
    ack_errors: Counter[str] = field(default_factory=Counter)
    delivered: int = 0
    deliveries_in_window: int = 0
    duplicates: int = 0
    unexpected: int = 0
    delivery_ms: list[float] = field(default_factory=list)
    first_delivery_ms: list[float] = field(default_factory=list)
    # Messages sent after the first STEADY_AFTER_S of the window: once every conversation exists.
    steady_delivery_ms: list[float] = field(default_factory=list)
    ack_ms: list[float] = field(default_factory=list)
    send_lag_ms: list[float] = field(default_factory=list)
    loop_lag_ms: list[float] = field(default_factory=list)
    measured_s: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)
    client_cpu_s: float = 0.0
    host_busy_s: float = 0.0
    connect_s: float = 0.0
    window: tuple[float, float] = (0.0, 0.0)
    ack_times: list[float] = field(default_factory=list)
    stored: int | None = None  # right after the drain
    stored_final: int | None = None  # once the count stopped growing
    stored_conversations: int | None = None
    acked_ids: list[str] = field(default_factory=list)
    acked_not_stored: int | None = None  # acknowledged message ids missing from the database

    @property
    def foreign_cpu_s(self) -> float:
        """Host CPU used by processes outside this benchmark (noise)."""
        return max(0.0, self.host_busy_s - self.client_cpu_s - sum(self.cpu_s.values()))

    @property
    def missing_acks(self) -> int:
        return self.sent - self.acked_ok - sum(self.ack_errors.values())

    @property
    def expected_deliveries(self) -> int:
        return self.acked_ok * self.agents


class Load:
    """Shared bookkeeping of one run; callbacks run on the event loop, so no locking."""

    def __init__(self, result: RunResult) -> None:
        self.result = result
        self.sent_at: dict[str, float] = {}  # message key -> perf_counter at emit
        self.first_keys: set[str] = set()
        self.received: list[set[str]] = [set() for _ in range(result.agents)]
        self.window = (0.0, 0.0)
        self.acks_outstanding = 0
        self.sending_finished = False
        self.drained = asyncio.Event()

    def in_window(self, at: float) -> bool:
        return self.window[0] <= at <= self.window[1]

    def on_ack(self, key: str, sent_at: float, data: Any = None) -> None:
        now = time.perf_counter()
        self.acks_outstanding -= 1
        result = self.result
        if isinstance(data, dict) and data.get("ok") is True:
            result.acked_ok += 1
            message = data.get("message")
            if isinstance(message, dict) and isinstance(message.get("id"), str):
                result.acked_ids.append(message["id"])
            result.ack_ms.append((now - sent_at) * 1000)
            result.ack_times.append(now)
            if self.in_window(now):
                result.acks_in_window += 1
        else:
            error = data.get("error", {}) if isinstance(data, dict) else {}
            result.ack_errors[str(error.get("code", repr(data)[:60]))] += 1
        self.check_drained()

    def on_agent_event(self, agent: int, data: Any) -> None:
        now = time.perf_counter()
        result = self.result
        message = data.get("message") if isinstance(data, dict) else None
        text = message.get("text") if isinstance(message, dict) else None
        # Text is "bench <key> t=<perf_counter_ns at emit>".
        parts = text.split() if isinstance(text, str) else []
        if parts[:1] == ["warmup"]:
            return  # a conversation started before the measured window
        if len(parts) != 3 or parts[0] != "bench" or not parts[2].startswith("t=") or parts[1] not in self.sent_at:
            result.unexpected += 1
            return
        key = parts[1]
        if key in self.received[agent]:
            result.duplicates += 1
            return
        self.received[agent].add(key)
        latency = (now - int(parts[2][2:]) / 1e9) * 1000
        result.delivered += 1
        result.delivery_ms.append(latency)
        if key in self.first_keys:
            result.first_delivery_ms.append(latency)
        elif now - latency / 1000 >= self.window[0] + STEADY_AFTER_S:
            result.steady_delivery_ms.append(latency)
        if self.in_window(now):
            result.deliveries_in_window += 1
        self.check_drained()

    def agent_handler(self, agent: int) -> Callable[[Any], Any]:
        async def handle(data: Any = None) -> None:
            self.on_agent_event(agent, data)

        return handle

    def check_drained(self) -> None:
        result = self.result
        if self.sending_finished and self.acks_outstanding == 0 and result.delivered >= result.expected_deliveries:
            self.drained.set()


async def send(client: socketio.AsyncClient, load: Load, key: str, first: bool) -> asyncio.Future[None] | None:
    """Emit one message; for a first message, return a future set when its ack arrives."""
    loop = asyncio.get_running_loop()
    acked: asyncio.Future[None] | None = loop.create_future() if first else None
    sent_at = time.perf_counter()
    load.sent_at[key] = sent_at
    if first:
        load.first_keys.add(key)

    def callback(data: Any = None) -> None:
        load.on_ack(key, sent_at, data)
        if acked is not None and not acked.done():
            acked.set_result(None)

    load.acks_outstanding += 1
    load.result.sent += 1
    text = f"bench {key} t={int(sent_at * 1e9)}"
    await client.emit("message", {"client_id": key, "text": text}, namespace="/visitor", callback=callback)
    return acked


async def visitor_loop(
    index: int,
    client: socketio.AsyncClient,
    load: Load,
    start: float,
    rate: float,
    duration: float,
    offset: float,
    warmed: bool = False,
) -> None:
    interval = 1.0 / rate
    end = start + duration
    seq = 0
    while True:
        due = start + offset + seq * interval
        if due >= end:
            return
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        load.result.send_lag_ms.append(max(0.0, time.perf_counter() - due) * 1000)
        acked = await send(client, load, f"v{index}-{seq}", first=seq == 0 and not warmed)
        if acked is not None:
            # The conversation must exist before the next message (as the widget does).
            try:
                await asyncio.wait_for(acked, timeout=max(5.0, duration))
            except TimeoutError:
                return
        seq += 1


async def loop_lag_monitor(samples: list[float], stop: asyncio.Event, period: float = 0.05) -> None:
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(period)
        samples.append(max(0.0, time.perf_counter() - before - period) * 1000)


async def connect(url: str, namespace: str, headers: dict[str, str]) -> socketio.AsyncClient:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(url, namespaces=[namespace], transports=["websocket"], headers=headers, wait_timeout=30)
    return client


async def warm_up(clients: list[socketio.AsyncClient]) -> None:
    """Start every conversation before the measured window (steady state only)."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def first(index: int, client: socketio.AsyncClient) -> None:
        async with gate:
            for attempt in range(20):
                ack = await client.call(
                    "message", {"client_id": f"warm{index}", "text": "warmup"}, namespace="/visitor", timeout=60
                )
                if isinstance(ack, dict) and ack.get("ok"):
                    return
                await asyncio.sleep(0.5 * (attempt + 1))  # refused (busy): back off like the widget
            raise RuntimeError(f"warm-up message of visitor {index} was never accepted")

    await asyncio.gather(*(first(i, c) for i, c in enumerate(clients)))


async def run_load(
    target: Target,
    visitors: int,
    agents: int,
    rate: float,
    duration: float,
    seed: int,
    drain: float,
    warmup: bool = False,
) -> RunResult:
    result = RunResult(target, visitors, agents, duration, rate)
    load = Load(result)
    rng = random.Random(seed)
    agent_clients: list[socketio.AsyncClient] = []
    visitor_clients: list[socketio.AsyncClient] = []
    try:
        for agent in range(agents):
            client = socketio.AsyncClient(reconnection=False)
            for event in ("message", "conversation_created"):
                client.on(event, load.agent_handler(agent), namespace="/agent")
            await client.connect(
                target.url,
                namespaces=["/agent"],
                transports=["websocket"],
                # A copy: python-engineio deletes the Cookie header from the dict it is given, so
                # reusing it left every capacity step after the first without a session.
                headers=dict(target.agent_headers),
                wait_timeout=30,  # between capacity steps the server may still be busy with the last one
            )
            agent_clients.append(client)

        connecting = time.perf_counter()
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def bounded() -> socketio.AsyncClient:
            async with gate:
                return await connect(target.url, "/visitor", {"User-Agent": "chat-latency-bench"})

        visitor_clients.extend(await asyncio.gather(*(bounded() for _ in range(visitors))))
        if warmup:
            await warm_up(visitor_clients)
        result.connect_s = time.perf_counter() - connecting

        start = time.perf_counter() + 1.0
        load.window = (start, start + duration)
        stop = asyncio.Event()
        monitor = asyncio.create_task(loop_lag_monitor(result.loop_lag_ms, stop))
        await asyncio.sleep(max(0.0, start - time.perf_counter() - 0.2))
        cpu_before = {label: cpu_seconds(pid) for label, pid in target.processes.items()}
        own_before = own_cpu_seconds()
        host_before = host_busy_seconds()
        measured_from = time.perf_counter()
        senders = [
            visitor_loop(i, client, load, start, rate, duration, rng.uniform(0, 1.0 / rate), warmup)
            for i, client in enumerate(visitor_clients)
        ]
        await asyncio.gather(*senders)
        # Drain: wait (bounded) for outstanding acks and deliveries; what is still missing then counts as lost.
        load.sending_finished = True
        load.check_drained()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(load.drained.wait(), timeout=drain)
        result.measured_s = time.perf_counter() - measured_from
        result.client_cpu_s = own_cpu_seconds() - own_before
        result.host_busy_s = host_busy_seconds() - host_before
        result.cpu_s = {label: cpu_seconds(pid) - cpu_before[label] for label, pid in target.processes.items()}
        stop.set()
        await monitor
        result.window = load.window
    finally:
        await asyncio.gather(*(c.disconnect() for c in visitor_clients + agent_clients), return_exceptions=True)
    return result


# --- processes ------------------------------------------------------------------------------


class RelayProcess:
    label = "bare relay"

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.log_path = workdir / f"{self.label.replace(' ', '-')}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [sys.executable, str(REPO / "bench" / "bare_relay.py"), "--port", str(self.port)]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RelayProcess:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        wait_for(self._ready, 30, what=f"{self.label} on {self.url} (log: {self.log_path})")
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.label} exited: {self.log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(self.url + "/readyz", timeout=1) as response:  # noqa: S310
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class NodeRelayProcess(RelayProcess):
    """bench/relay_node.js: socket.io 4.8 on Node.js, installed from bench/package-lock.json."""

    label = "node relay"

    def command(self) -> list[str]:
        return ["node", str(REPO / "bench" / "relay_node.js"), "--port", str(self.port)]

    def start(self) -> RelayProcess:
        ensure_node_modules()
        return super().start()


def ensure_node_modules() -> None:
    bench = REPO / "bench"
    if (bench / "node_modules" / "socket.io" / "package.json").exists():
        return
    if shutil.which("npm") is None:
        raise RuntimeError("the Node.js relay needs node and npm (Node.js 18+)")
    install = "ci" if (bench / "package-lock.json").exists() else "install"
    print(f"installing the Node.js relay's packages (npm {install} in {bench}) ...", flush=True)
    subprocess.run(["npm", install, "--no-audit", "--no-fund", "--loglevel=error"], cwd=bench, check=True)


def count_stored(result: RunResult, uri: str, database: str, quiet_s: float = 3.0, limit_s: float = 180.0) -> None:
    """Stored messages now, and again once the count stopped growing (the server may still be catching up)."""
    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
        db = client[database]
        result.stored = last = db.messages.count_documents({})
        deadline = time.monotonic() + limit_s
        quiet_since = time.monotonic()
        while last < result.sent and time.monotonic() < deadline and time.monotonic() - quiet_since < quiet_s:
            time.sleep(0.5)
            now = db.messages.count_documents({})
            if now != last:
                last, quiet_since = now, time.monotonic()
        result.stored_final = last
        result.stored_conversations = db.conversations.count_documents({})
        found = 0
        for at in range(0, len(result.acked_ids), 1000):
            chunk = result.acked_ids[at : at + 1000]
            found += db.messages.count_documents({"_id": {"$in": chunk}})
        result.acked_not_stored = len(result.acked_ids) - found


def code_revision() -> str:
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no", "chat_service"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes in chat_service/" if dirty else "")


def log_problems(text: str, limit: int = 8) -> tuple[int, list[str]]:
    """Lines at warning level or above (JSON or plain), the count and the first few."""
    markers = ('"warning"', '"error"', '"critical"', "Traceback", "Error", "Exception")
    lines = [line for line in text.splitlines() if any(m in line for m in markers)]
    return len(lines), [line[:400] for line in lines[:limit]]


# --- report ---------------------------------------------------------------------------------


def print_report(results: list[RunResult], args: argparse.Namespace, notes: list[str]) -> None:
    print()
    print(
        f"chat_latency: {args.conversations} conversations x {args.rate:g} msg/s for {args.duration:g} s, "
        f"{args.agents} agent client(s), websocket transport, all on 127.0.0.1 ({os.cpu_count()} CPUs)"
    )
    print("=" * 100)
    header = f"{'target':<12} {'sent':>6} {'acked':>6} {'err':>4} {'lost':>4} {'deliv':>6}"
    header += f" {'acks/s':>7} {'deliv/s':>8} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}  (delivery ms)"
    print(header)
    for r in results:
        s = summary(r.delivery_ms)
        print(
            f"{r.target.name:<12} {r.sent:>6} {r.acked_ok:>6} {sum(r.ack_errors.values()):>4} "
            f"{r.missing_acks:>4} {r.delivered:>6} {r.acks_in_window / r.duration:>7.1f} "
            f"{r.deliveries_in_window / r.duration:>8.1f} {s['p50']:>8.2f} {s['p95']:>8.2f} {s['p99']:>8.2f} "
            f"{s['max']:>8.2f}"
        )
    print()
    for r in results:
        print(f"[{r.target.name}]")
        print(f"  delivery, all (ms)            {fmt_ms(r.delivery_ms)}")
        print(f"  delivery, first message (ms)  {fmt_ms(r.first_delivery_ms)}")
        print(f"  delivery, after {STEADY_AFTER_S:.0f} s (ms)     {fmt_ms(r.steady_delivery_ms)}")
        print(f"  ack, emit->ack (ms)           {fmt_ms(r.ack_ms)}")
        print(f"  send lag vs schedule (ms)     {fmt_ms(r.send_lag_ms)}")
        print(f"  bench event-loop lag (ms)     {fmt_ms(r.loop_lag_ms)}")
        buckets = sorted(per_second(r.ack_times, r.window))
        print(
            f"  msgs/s: offered {r.visitors * args.rate:.1f}; acked within the {r.duration:g} s send window "
            f"{r.acks_in_window / r.duration:.1f} (per second min {buckets[0]}, median {buckets[len(buckets) // 2]}, "
            f"max {buckets[-1]}); acked by the end of the drain {r.acked_ok}"
        )
        if r.ack_errors:
            print(f"  ack errors: {dict(r.ack_errors)}")
        if r.missing_acks or r.delivered < r.expected_deliveries or r.duplicates or r.unexpected:
            print(
                f"  !! missing acks {r.missing_acks}, deliveries {r.delivered}/{r.expected_deliveries}, "
                f"duplicates {r.duplicates}, unrecognised events {r.unexpected}"
            )
        if r.stored is not None and r.stored_final is not None:
            # Every ok ack must have its message stored; in the end every sent message should be stored.
            if r.acked_not_stored:
                verdict = f"ACKED BUT NOT STORED: {r.acked_not_stored}"
            elif r.stored_final < r.sent - sum(r.ack_errors.values()):
                verdict = f"NOT STORED: {r.sent - sum(r.ack_errors.values()) - r.stored_final}"
            else:
                verdict = "OK"
            print(
                f"  MongoDB: {r.stored} messages stored at the end of the drain ({r.acked_ok} ok acks), "
                f"{r.stored_final} once the server's backlog settled ({r.sent} sent, "
                f"{sum(r.ack_errors.values())} refused) -> {verdict}; "
                f"{r.stored_conversations} conversations (expected {r.visitors})"
            )
        print(f"  visitors connected in {r.connect_s:.2f} s")
        cpu = ", ".join(
            f"{label} {secs:.2f} s ({secs / r.measured_s * 100:.0f}% of a core)" for label, secs in r.cpu_s.items()
        )
        cpu += f", bench client {r.client_cpu_s:.2f} s ({r.client_cpu_s / r.measured_s * 100:.0f}% of a core)"
        print(f"  CPU over {r.measured_s:.1f} s: {cpu}")
        print(
            f"  host: {r.host_busy_s / r.measured_s * 100:.0f}% of a core busy in all, of which other processes "
            f"{r.foreign_cpu_s / r.measured_s * 100:.0f}% ({os.cpu_count()} CPUs)"
        )
        handled = max(r.acked_ok, r.stored or 0)  # stored by the end of the CPU window
        if handled:
            per_msg = ", ".join(f"{label} {secs / handled * 1000:.2f} ms" for label, secs in r.cpu_s.items())
            print(f"  CPU per message handled in that time ({handled}): {per_msg}")
        print()

    by_name = {r.target.name: r for r in results}
    chat, bare, node = by_name.get("chat server"), by_name.get("bare relay"), by_name.get("node relay")
    if chat and node and chat.delivery_ms and node.delivery_ms:
        print(
            f"p99 delivery ratio chat/node: {percentile(chat.delivery_ms, 99) / percentile(node.delivery_ms, 99):.2f}x "
            f"(node {percentile(node.delivery_ms, 99):.2f} ms)"
        )
    if chat and bare and chat.delivery_ms and bare.delivery_ms:
        chat_p99, bare_p99 = percentile(chat.delivery_ms, 99), percentile(bare.delivery_ms, 99)
        ratio = chat_p99 / bare_p99
        print(
            f"p99 delivery ratio chat/bare: {ratio:.2f}x "
            f"(chat {chat_p99:.2f} ms / bare {bare_p99:.2f} ms; p50 ratio "
            f"{percentile(chat.delivery_ms, 50) / percentile(bare.delivery_ms, 50):.2f}x)"
        )
        ok = ratio <= TARGET_RATIO and chat.delivered >= chat.expected_deliveries and not chat.missing_acks
        ok = ok and not chat.acked_not_stored
        verdict = "MEETS" if ok else "MISSES"
        print(
            f"verdict: chat server {verdict} the target p99 <= {TARGET_RATIO}x bare relay "
            f"({chat_p99:.1f} ms vs limit {TARGET_RATIO * bare_p99:.1f} ms)"
        )
    for note in notes:
        print(f"NOTE: {note}")


def saturation_notes(results: Iterable[RunResult]) -> list[str]:
    notes = []
    for r in results:
        if r.measured_s and r.foreign_cpu_s / r.measured_s > FOREIGN_CPU_LIMIT:
            notes.append(
                f"[{r.target.name}] other processes on this host used {r.foreign_cpu_s / r.measured_s * 100:.0f}% "
                "of a core during the run: figures are noisy, rerun on a quiet machine."
            )
        cpu_share = r.client_cpu_s / r.measured_s if r.measured_s else 0.0
        send_p99 = percentile(r.send_lag_ms, 99)
        loop_p99 = percentile(r.loop_lag_ms, 99)
        lagging = send_p99 > CLIENT_LAG_LIMIT_MS or loop_p99 > CLIENT_LAG_LIMIT_MS
        figures = f"client CPU {cpu_share * 100:.0f}% of a core, send-lag p99 {send_p99:.1f} ms, "
        figures += f"loop-lag p99 {loop_p99:.1f} ms"
        if cpu_share > CLIENT_CPU_LIMIT:
            notes.append(
                f"[{r.target.name}] one Python process could not generate this load ({figures}): latencies include "
                "client-side queueing; split the visitors over several processes or hosts."
            )
        elif lagging:
            host = r.host_busy_s / r.measured_s * 100 if r.measured_s else 0.0
            notes.append(
                f"[{r.target.name}] the load generator had enough CPU of its own but was scheduled late ({figures}; "
                f"host {host:.0f}% of a core busy of {(os.cpu_count() or 1) * 100}%): CPU contention on this host "
                "adds to the measured latencies."
            )
    return notes


# --- main -----------------------------------------------------------------------------------


JSON_NAMES = {"bare relay": "bare", "node relay": "node", "chat server": "chat"}
CAPACITY_ACK_P99_MS = 100.0


def target_json(r: RunResult) -> dict[str, Any]:
    def ms(values: list[float], pct: float) -> float | None:
        value = percentile(values, pct)
        return None if math.isnan(value) else round(value, 3)

    body: dict[str, Any] = {
        "offered_msgs_per_s": round(r.visitors * r.rate, 1),
        "sent": r.sent,
        "acked": r.acked_ok,
        "refused": dict(r.ack_errors),
        "missing_acks": r.missing_acks,
        "delivered": r.delivered,
        "acked_msgs_per_s": round(r.acks_in_window / r.duration, 1),
        "p50_ms": ms(r.delivery_ms, 50),
        "p95_ms": ms(r.delivery_ms, 95),
        "p99_ms": ms(r.delivery_ms, 99),
        # Once every conversation has started (the first messages each create one).
        "steady_p99_ms": ms(r.steady_delivery_ms, 99),
        "ack_p50_ms": ms(r.ack_ms, 50),
        "ack_p99_ms": ms(r.ack_ms, 99),
        "cpu_s": {label: round(v, 2) for label, v in r.cpu_s.items()},
        "foreign_cpu_share": round(r.foreign_cpu_s / r.measured_s, 2) if r.measured_s else None,
        "client_cpu_share": round(r.client_cpu_s / r.measured_s, 2) if r.measured_s else None,
    }
    if r.stored is not None:
        body["stored"] = r.stored_final
        body["acked_not_stored"] = r.acked_not_stored
    return body


def sustained(r: RunResult) -> bool:
    """Acked and stored at the offered rate with ack p99 within the limit."""
    offered = r.visitors * r.rate * r.duration
    return (
        not r.ack_errors
        and not r.missing_acks
        and not r.acked_not_stored
        and r.acks_in_window >= 0.95 * offered
        and percentile(r.ack_ms, 99) <= CAPACITY_ACK_P99_MS
    )


def find_capacity(target: Target, args: argparse.Namespace, secantus: SecantusProcess, server: ServerProcess) -> Any:
    """Raise the offered rate (x1.25 a step) until a step is not sustained; bisect once between."""
    steps: list[dict[str, Any]] = []
    best = 0.0

    def step(total: float) -> bool:
        nonlocal best
        rate = total / args.conversations
        print(f"capacity step: {total:.0f} msg/s offered ({args.conversations} x {rate:.2f}) ...", flush=True)
        r = asyncio.run(
            run_load(target, args.conversations, args.agents, rate, args.duration, args.seed, args.drain, True)
        )
        count_stored(r, secantus.uri, server.database, limit_s=30.0)
        ok = sustained(r)
        achieved = r.acks_in_window / r.duration
        print(
            f"  acked {achieved:.0f}/s, ack p99 {percentile(r.ack_ms, 99):.1f} ms, delivery p99 "
            f"{percentile(r.delivery_ms, 99):.1f} ms, refused {dict(r.ack_errors)}, acked-not-stored "
            f"{r.acked_not_stored}, client CPU {r.client_cpu_s / r.measured_s * 100:.0f}% -> "
            f"{'sustained' if ok else 'NOT sustained'}",
            flush=True,
        )
        steps.append({"offered_msgs_per_s": round(total, 1), "sustained": ok, **target_json(r)})
        if ok:
            best = max(best, achieved)
        return ok

    total = float(args.capacity_start)
    last_ok = 0.0
    while total <= args.capacity_max and step(total):
        last_ok = total
        total *= 1.25
    if last_ok and total <= args.capacity_max:
        step((last_ok + total) / 2)
    found: dict[str, Any] = {"capacity_msgs_per_s": round(best, 1), "ack_p99_limit_ms": CAPACITY_ACK_P99_MS}
    if args.overload and best:
        total = best * args.overload
        rate = total / args.conversations
        print(f"overload: {total:.0f} msg/s offered ({args.overload:g}x capacity) for {args.overload_duration:g} s ...")
        r = asyncio.run(
            run_load(target, args.conversations, args.agents, rate, args.overload_duration, args.seed, args.drain, True)
        )
        count_stored(r, secantus.uri, server.database, limit_s=60.0)
        achieved = r.acks_in_window / r.duration
        found["overload"] = {
            "factor": args.overload,
            "achieved_msgs_per_s": round(achieved, 1),
            "achieved_share_of_capacity": round(achieved / best, 3),
            **target_json(r),
        }
        print(
            f"  achieved {achieved:.0f}/s = {achieved / best * 100:.0f}% of capacity; refused {dict(r.ack_errors)}; "
            f"acked but not stored {r.acked_not_stored}"
        )
    found["steps"] = steps
    return found


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=200, help="visitor clients, one conversation each")
    parser.add_argument("--rate", type=float, default=1.0, help="messages per second per visitor")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of sending per target")
    parser.add_argument("--agents", type=int, default=1, help="agent clients (each receives every message)")
    parser.add_argument("--only", choices=["chat", "bare", "node"], action="append", help="run these targets only")
    parser.add_argument("--seed", type=int, default=1, help="seed for the start offsets")
    parser.add_argument(
        "--drain", type=float, default=30.0, help="seconds to wait after sending for late acks/deliveries"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser.add_argument(
        "--find-capacity", action="store_true", help="chat server only: highest rate with ack p99 <= 100 ms"
    )
    parser.add_argument("--capacity-start", type=float, default=250.0, help="first offered rate (msg/s)")
    parser.add_argument("--capacity-max", type=float, default=6000.0, help="stop raising the rate here (msg/s)")
    parser.add_argument(
        "--overload", type=float, default=0.0, help="with --find-capacity: then offer this multiple of capacity"
    )
    parser.add_argument("--overload-duration", type=float, default=30.0, help="seconds of the overload run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, database)")
    args = parser.parse_args(argv)
    if args.conversations < 1 or args.rate <= 0 or args.duration <= 0 or args.agents < 1:
        parser.error("--conversations and --agents must be >= 1, --rate and --duration > 0")
    if args.find_capacity:
        args.only = ["chat"]
    args.only = set(args.only or ["bare", "node", "chat"])
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="chat-latency-"))
    secantus = SecantusProcess(workdir / "db")
    server = ServerProcess("", workdir / "server", env_extra={"CHAT_LOG_LEVEL": "WARNING", **BENCH_LIMITS})
    relays = {"bare": RelayProcess(workdir), "node": NodeRelayProcess(workdir)}
    results: list[RunResult] = []
    notes: list[str] = []
    payload: dict[str, Any] = {"targets": {}}
    try:
        print(f"workdir {workdir}; chat_service code at {code_revision()}", flush=True)
        if "chat" in args.only:
            secantus.start()
            server.mongodb_uri = secantus.uri
            server.start()
            server.create_user(AGENT_EMAIL, AGENT_PASSWORD)
            print(f"chat server {server.url} (pid {server.proc.pid if server.proc else '?'}), log {server.log_path}")
        targets: list[Target] = []
        for name, relay in relays.items():
            if name in args.only:
                relay.start()
                assert relay.proc is not None
                print(f"{relay.label:<11} {relay.url} (pid {relay.proc.pid}), log {relay.log_path}")
                targets.append(Target(relay.label, relay.url, {}, {relay.label: relay.proc.pid}))
        if "chat" in args.only:
            assert server.proc is not None
            assert secantus.proc is not None
            cookie = asyncio.run(login(server, AGENT_EMAIL, AGENT_PASSWORD))
            processes = {"chat server": server.proc.pid, "secantusd": secantus.proc.pid}
            targets.append(Target("chat server", server.url, {"Cookie": f"chat_session={cookie}"}, processes))

        if args.find_capacity:
            payload.update(find_capacity(targets[-1], args, secantus, server))
            print(f"capacity: {payload['capacity_msgs_per_s']} msg/s sustained with ack p99 <= 100 ms")
        else:
            for target in targets:
                print(f"running {target.name} ...", flush=True)
                result = asyncio.run(
                    run_load(target, args.conversations, args.agents, args.rate, args.duration, args.seed, args.drain)
                )
                if target.name == "chat server":
                    count_stored(result, secantus.uri, server.database)
                results.append(result)
                payload["targets"][JSON_NAMES[target.name]] = target_json(result)

        notes.extend(saturation_notes(results))
        if "chat" in args.only and not server.alive():
            notes.append(f"chat server process died during the run (log: {server.log_path})")
        # Stop first, so what the servers log while shutting down is checked too.
        for relay in relays.values():
            relay.stop()
        server.stop()
        secantus.stop()
        if "chat" in args.only:
            count, lines = log_problems(server.logs())
            if count:
                notes.append(f"chat server log has {count} warning/error line(s) ({server.log_path}):")
                notes.extend("  " + line for line in lines)
            db_log = secantus.storage.parent / f"secantusd-{secantus.port}.log"
            count, lines = log_problems(db_log.read_text(errors="replace") if db_log.exists() else "")
            if count:
                notes.append(f"secantusd log has {count} warning/error line(s) ({db_log}):")
                notes.extend("  " + line for line in lines)
        for name, relay in relays.items():
            if name in args.only:
                count, lines = log_problems(relay.log_path.read_text(errors="replace"))
                if count:
                    notes.append(f"{relay.label} log has {count} warning/error line(s) ({relay.log_path}):")
                    notes.extend("  " + line for line in lines)
        if results:
            print_report(results, args, notes)
        else:
            for note in notes:
                print(f"NOTE: {note}")
        payload["notes"] = notes
        if args.json:
            print(json.dumps(payload))
    finally:
        for relay in relays.values():
            relay.stop()
        server.stop()
        secantus.stop()
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
