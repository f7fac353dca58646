"""Client, write concern, indexes and topology description."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, WriteConcern
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, InvalidOperation, PyMongoError, WTimeoutError
from pymongo.read_concern import ReadConcern
from pymongo.topology_description import TopologyDescription

from chat_service.errors import StorageUnavailable

P = ParamSpec("P")
T = TypeVar("T")

# Acknowledged means on disk on a majority: without j=True SecantusDB loses acked writes on kill -9.
DURABLE = WriteConcern(w="majority", j=True)
# SecantusDB closes connections idle for 300 s; retire ours first.
MAX_IDLE_MS = 240_000
# SecantusDB serialises requests and gets slower per request as concurrency grows: messages go
# through one writer (the write pipeline), and a small pool bounds everything else.
DEFAULT_POOL_SIZE = 8


def translate_errors(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Turn driver connection errors into the domain's `StorageUnavailable`."""

    @wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except (ConnectionFailure, WTimeoutError, InvalidOperation) as exc:
            # InvalidOperation: the client was closed under us (shutting down).
            raise StorageUnavailable() from exc

    return wrapper


@dataclass(frozen=True)
class NodeInfo:
    """One server of the topology, as the residency check needs it."""

    address: str
    host: str
    server_type: str
    tags: dict[str, str] = field(default_factory=dict)


def describe_nodes(topology: TopologyDescription) -> list[NodeInfo]:
    nodes = []
    for (host, port), server in sorted(topology.server_descriptions().items()):
        nodes.append(
            NodeInfo(
                address=f"{host}:{port}",
                host=host,
                server_type=server.server_type_name,
                tags={str(k): str(v) for k, v in (server.tags or {}).items()},
            )
        )
    return nodes


class Database:
    """Owns the client and hands out the per-collection stores."""

    def __init__(self, client: AsyncMongoClient[dict[str, Any]], name: str):
        self.client = client
        self.db: AsyncDatabase[dict[str, Any]] = client.get_database(
            name, write_concern=DURABLE, read_concern=ReadConcern("majority")
        )
        from chat_service.storage.attachments import AttachmentStore
        from chat_service.storage.audit import AuditStore
        from chat_service.storage.batches import BatchStore
        from chat_service.storage.bots import BotStore
        from chat_service.storage.bulk import BulkLoader
        from chat_service.storage.canned import CannedStore
        from chat_service.storage.conversations import ConversationStore, MessageStore, ReadStore
        from chat_service.storage.erasures import ErasureFeedStore
        from chat_service.storage.keys import DataKeyStore
        from chat_service.storage.limits import RateCounterStore
        from chat_service.storage.notes import NoteStore
        from chat_service.storage.outbox import EndpointStore, OutboxStore
        from chat_service.storage.presence import AgentStatusStore, PresenceStore
        from chat_service.storage.reports import ReportStore
        from chat_service.storage.retention import RetentionStore
        from chat_service.storage.teams import TeamStore
        from chat_service.storage.users import LoginThrottleStore, SessionStore, UserStore
        from chat_service.storage.widget import WidgetStore

        self.conversations = ConversationStore(self.db)
        self.messages = MessageStore(self.db)
        self.data_keys = DataKeyStore(self.db)
        self.users = UserStore(self.db)
        self.sessions = SessionStore(self.db)
        self.audit = AuditStore(self.db)
        self.throttle = LoginThrottleStore(self.db)
        self.canned = CannedStore(self.db)
        self.presence = PresenceStore(self.db)
        self.agent_status = AgentStatusStore(self.db)
        self.notes = NoteStore(self.db)
        self.reads = ReadStore(self.db)
        self.retention = RetentionStore(self.client, self.db)
        self.bulk = BulkLoader(self.db)
        self.endings = ErasureFeedStore(self.db)
        self.rate_counters = RateCounterStore(self.db)
        self.batches = BatchStore(self.client, self.db)
        self.outbox = OutboxStore(self.client, self.db)
        self.webhook_endpoints = EndpointStore(self.db)
        self.bots = BotStore(self.db)
        self.teams = TeamStore(self.db)
        self.reports = ReportStore(self.db)
        self.attachments = AttachmentStore(self.db)
        self.widget = WidgetStore(self.db)

    async def ping(self) -> None:
        try:
            await self.client.admin.command("ping")
        except PyMongoError as exc:
            raise StorageUnavailable("The database is not reachable.") from exc

    def nodes(self) -> list[NodeInfo]:
        return describe_nodes(self.client.topology_description)

    async def ensure_indexes(self) -> None:
        await self.db.messages.create_index(
            [("conversation_id", ASCENDING), ("sender", ASCENDING), ("client_id", ASCENDING)],
            unique=True,
            name="idempotent_send",
        )
        # No separate (conversation_id, created_at) index: the one above narrows history to one
        # conversation and SecantusDB sorts that in memory; each index costs ~0.45 ms per insert.
        await self.db.conversations.create_index(
            [("status", ASCENDING), ("last_activity_at", DESCENDING)], name="inbox"
        )
        await self.db.conversations.create_index([("last_activity_at", ASCENDING)], name="retention")
        await self.db.conversations.create_index(
            [("first_client_hash", ASCENDING)],
            unique=True,
            partialFilterExpression={"first_client_hash": {"$type": "string"}},
            name="first_client",
        )
        await self.db.conversations.create_index([("email_index", ASCENDING)], name="blind_index", sparse=True)
        await self.db.conversations.create_index([("pseudonym", ASCENDING)], name="pseudonym", sparse=True)
        await self.db.conversations.create_index([("bot_sender", ASCENDING)], name="bot_sender", sparse=True)
        await self.db.messages.create_index([("created_at", ASCENDING)], name="stored_at")
        await self.db.users.create_index([("email", ASCENDING)], unique=True, name="email")
        await self.db.sessions.create_index([("user_id", ASCENDING)], name="user")
        await self.db.audit_events.create_index([("at", ASCENDING)], name="time")
        await self.db.canned_responses.create_index([("shortcut", ASCENDING)], unique=True, name="shortcut")
        await self.db.agent_presence.create_index([("node_id", ASCENDING)], name="node")
        await self.db.agent_presence.create_index([("user_id", ASCENDING)], name="user")
        await self.db.conversation_reads.create_index([("user_id", ASCENDING)], name="user")
        await self.db.audit_events.create_index([("target_id", ASCENDING)], name="target")
        await self.db.login_throttle.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0, name="decay")
        await self.db.sessions.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0, name="lifetime")
        await self.endings.ensure_indexes()
        await self.rate_counters.ensure_indexes()
        await self.outbox.ensure_indexes()
        await self.teams.ensure_indexes()
        await self.reports.ensure_indexes()
        await self.notes.ensure_indexes()
        await self.attachments.ensure_indexes()

    async def collection_counts(self) -> dict[str, int]:
        names = await self.db.list_collection_names()
        return {n: await self.db[n].count_documents({}) for n in sorted(names)}

    async def close(self) -> None:
        await self.client.close()


def make_client(uri: str, timeout_ms: int, pool_size: int = DEFAULT_POOL_SIZE) -> AsyncMongoClient[dict[str, Any]]:
    return AsyncMongoClient(
        uri,
        tz_aware=True,
        maxIdleTimeMS=MAX_IDLE_MS,
        maxPoolSize=pool_size,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=min(timeout_ms, 10_000),
        w="majority",
        journal=True,
        appname="chat-service",
    )


@asynccontextmanager
async def open_database(uri: str, name: str, timeout_ms: int) -> AsyncIterator[Database]:
    database = Database(make_client(uri, timeout_ms), name)
    try:
        yield database
    finally:
        await database.close()


async def wait_until_ready(uri: str, timeout_s: float) -> None:
    """Poll `ping` until the server answers or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, serverSelectionTimeoutMS=250, connectTimeoutMS=250)
    try:
        while True:
            try:
                await client.admin.command("ping")
                return
            except PyMongoError:
                if time.monotonic() > deadline:
                    raise StorageUnavailable("The embedded database did not start in time.") from None
                await asyncio.sleep(0.05)
    finally:
        await client.close()


async def discovered_nodes(database: Database, timeout_s: float) -> list[NodeInfo]:
    """Nodes once every member of the topology has been reached (or the deadline passed).

    After the first `ping` the driver may still be discovering secondaries; their tags are
    unknown until it has spoken to them, so wait rather than judge them untagged.
    """
    await database.ping()
    deadline = time.monotonic() + timeout_s
    while True:
        nodes = database.nodes()
        if all(n.server_type != "Unknown" for n in nodes) or time.monotonic() > deadline:
            return nodes
        await asyncio.sleep(0.05)
