"""Seeding through the domain classes (so documents are exactly what the server writes) and CLI runners."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bson
import pymongo

from chat_service.conversations import Conversations, VisitorContext
from chat_service.crypto import HmacKeys, KeyRingSource
from chat_service.models import User
from chat_service.storage import Database, open_database
from chat_service.validation import parse_visitor_message
from tests.helpers import new_hmac_keys_file, new_key_ring_file

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
AGENT = User(id="u-agent", email="agent@example.eu", role="agent", password_hash="x", created_at=NOW)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


class Clock:
    def __init__(self) -> None:
        self.at = NOW

    def __call__(self) -> datetime:
        return self.at


@dataclass(frozen=True)
class Visitor:
    name: str | None = None
    email: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    page_url: str | None = None
    language: str | None = None


class Seeder:
    def __init__(self, db: Database, keys: KeyRingSource, hmac_keys: HmacKeys):
        self.db = db
        self.clock = Clock()
        self.conversations = Conversations(db, keys, resume_days=30, clock=self.clock, hmac_keys=hmac_keys)
        self._reader_args = (db, keys, hmac_keys)

    def reader(self) -> Conversations:
        """What a server sees once its key cache has expired (the retention job re-keys conversations)."""
        db, keys, hmac_keys = self._reader_args
        return Conversations(db, keys, resume_days=30, clock=self.clock, hmac_keys=hmac_keys)

    async def conversation(
        self,
        last_activity: datetime,
        texts: list[str],
        *,
        visitor: Visitor = Visitor(),
        replies: tuple[str, ...] = (),
        offline: bool = False,
        first_client_id: str = "v0",
    ) -> str:
        """A conversation whose last message is at `last_activity`, one minute between messages."""
        count = len(texts) + len(replies)
        self.clock.at = last_activity - timedelta(minutes=count - 1)
        # Parsed exactly as the /visitor namespace parses a first message.
        profile = {"name": visitor.name, "email": visitor.email, "page_url": visitor.page_url}
        profile["language"] = visitor.language
        first = parse_visitor_message(
            {"client_id": first_client_id, "text": texts[0], "profile": profile, "offline": offline}, max_len=4000
        )
        started = await self.conversations.start(first, VisitorContext(visitor.ip, visitor.user_agent))
        conversation_id = started.conversation.id
        for i, text in enumerate(texts[1:], 1):
            self.clock.at += timedelta(minutes=1)
            await self.conversations.visitor_send(conversation_id, f"v{i}", text)
        for i, text in enumerate(replies):
            self.clock.at += timedelta(minutes=1)
            await self.conversations.agent_reply(AGENT, conversation_id, f"a{i}", text)
        return conversation_id


@dataclass
class RetentionEnv:
    """A database of its own, key files, and runners for `chat-retention` and `chat-service privacy`."""

    mongodb_uri: str
    workdir: Path
    database: str = field(default_factory=lambda: "r_" + uuid.uuid4().hex[:12])
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.master_keys = new_key_ring_file(self.workdir / "master.keys")
        self.hmac_file = new_hmac_keys_file(self.workdir / "hmac.keys")

    @property
    def hmac_keys(self) -> HmacKeys:
        return HmacKeys.load(self.hmac_file)[0]

    def key_source(self) -> KeyRingSource:
        return KeyRingSource(self.master_keys, None)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_") and k != "MONGODB_URI"}
        env.update(
            {
                "MONGODB_URI": self.mongodb_uri,
                "CHAT_MONGODB_DATABASE": self.database,
                "CHAT_MASTER_KEY_FILE": str(self.master_keys),
                "CHAT_HMAC_KEYS_FILE": str(self.hmac_file),
                "CHAT_DATA_DIR": str(self.workdir / "var"),
                "CHAT_LOG_FORMAT": "json",
                "CHAT_MONGODB_TIMEOUT_MS": "5000",
            }
        )
        env.update(self.extra_env)
        return env

    def _command(self, module: str, args: tuple[str, ...]) -> list[str]:
        return [sys.executable, "-m", module, *args]

    def retention(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self._run(self._command("retention", args))

    def start_retention(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self._command("retention", args),
            env=self.env(),
            cwd=self.workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def privacy(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return self._run(self._command("chat_service", ("privacy", *args)), stdin)

    def chat_service(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self._run(self._command("chat_service", args))

    def _run(self, command: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command,
            env=self.env(),
            cwd=self.workdir,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def run_json(self, *args: str) -> Any:
        result = self.retention(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def raw(self) -> pymongo.database.Database[dict[str, Any]]:
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(self.mongodb_uri, tz_aware=True)
        return client[self.database]

    def raw_bytes(self) -> bytes:
        db = self.raw()
        return b"".join(bson.encode(doc) for name in db.list_collection_names() for doc in db[name].find())

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        db = self.raw()
        return {name: list(db[name].find().sort("_id", 1)) for name in sorted(db.list_collection_names())}

    @asynccontextmanager
    async def open(self) -> AsyncIterator[tuple[Database, Seeder]]:
        async with open_database(self.mongodb_uri, self.database, 5000) as db:
            await db.ensure_indexes()
            yield db, Seeder(db, self.key_source(), self.hmac_keys)
