"""Attached files under retention and data-subject requests: erasure and deletion destroy them,
pseudonymisation deletes them, an export carries them (name and content)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from chat_service.attachments import Attachments
from chat_service.conversations import Conversations
from tests.helpers import SecantusProcess
from tests.retention_helpers import NOW, RetentionEnv, Visitor, days_ago

ANNA = Visitor(name="Anna Bijlage", email="anna@bijlage.nl")
FILE_NAME = "paspoort-anna-CANARYNAME.png"


@pytest.fixture
def renv(secantus: SecantusProcess, tmp_path: Path) -> RetentionEnv:
    return RetentionEnv(secantus.uri, tmp_path / "files")


def png(seed: int = 7) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (seed, 200, 90)).save(out, "PNG")
    return out.getvalue()


async def _with_file(renv: RetentionEnv, last_activity_days: float, *, offline: bool = False) -> tuple[str, str]:
    """A conversation with a visitor's file, last active that many days before NOW; (conversation, file) ids."""
    async with renv.open() as (db, seed):
        conversation_id = await seed.conversation(
            days_ago(last_activity_days + 1), ["Hier is mijn paspoort"], visitor=ANNA, offline=offline
        )
        seed.clock.at = days_ago(last_activity_days)
        files = Attachments(db, seed.conversations, max_bytes=1_000_000, max_pixels=1_000_000, clock=seed.clock)
        conv = await seed.conversations.get(conversation_id)
        view, _, _ = await files.attach(conv, "file-1", FILE_NAME, png())
    assert view.attachment is not None
    return conversation_id, view.attachment.id


def _files(renv: RetentionEnv, conversation_id: str) -> tuple[int, int]:
    db = renv.raw()
    query = {"conversation_id": conversation_id}
    return db.attachments.count_documents(query), db.attachment_chunks.count_documents(query)


async def test_export_carries_the_files_name_kind_and_content(renv: RetentionEnv) -> None:
    _, file_id = await _with_file(renv, 1)
    out = renv.workdir / "export.json"
    result = renv.privacy("export", "--email", ANNA.email or "", "--output", str(out))
    assert result.returncode == 0, result.stderr
    [conversation] = json.loads(out.read_text())["conversations"]
    [entry] = [m["attachment"] for m in conversation["messages"] if "attachment" in m]
    assert entry["id"] == file_id and entry["name"] == FILE_NAME and entry["type"] == "image/png"
    exported = Image.open(io.BytesIO(base64.b64decode(entry["content_base64"])))
    assert exported.size == (40, 30) and exported.getpixel((0, 0)) == (7, 200, 90)
    assert entry["size"] == len(base64.b64decode(entry["content_base64"]))


async def test_erasure_destroys_the_files_with_the_key(renv: RetentionEnv) -> None:
    conversation_id, _ = await _with_file(renv, 1)
    assert _files(renv, conversation_id) == (1, 1)
    result = renv.privacy("erase", "--conversation", conversation_id, "--yes")
    assert result.returncode == 0, result.stderr
    assert _files(renv, conversation_id) == (0, 0)
    assert renv.raw().data_keys.count_documents({"_id": conversation_id}) == 0
    assert b"CANARYNAME" not in renv.raw_bytes()


async def test_retention_deletion_destroys_the_files(renv: RetentionEnv) -> None:
    old, _ = await _with_file(renv, 200)
    young, _ = await _with_file(renv, 3)
    result = renv.retention("run", "--now", NOW.isoformat())
    assert result.returncode == 0, result.stderr
    assert _files(renv, old) == (0, 0)
    assert _files(renv, young) == (1, 1)


async def test_pseudonymisation_deletes_the_files_and_keeps_kind_and_size(renv: RetentionEnv) -> None:
    conversation_id, file_id = await _with_file(renv, 40)
    result = renv.retention("run", "--now", NOW.isoformat())
    assert result.returncode == 0, result.stderr
    assert _files(renv, conversation_id) == (0, 0)
    stored = renv.raw().messages.find_one({"conversation_id": conversation_id, "attachment": {"$exists": True}})
    assert stored is not None
    assert stored["attachment"]["id"] == file_id and stored["attachment"]["removed"] is True
    assert "name" not in stored["attachment"]
    assert b"CANARYNAME" not in renv.raw_bytes()
    # As an agent sees it after the data key cache expired (the job re-keyed the conversation).
    async with renv.open() as (db, _):
        history = await Conversations(db, renv.key_source(), resume_days=30).history(conversation_id)
    [message] = [m for m in history if m.attachment is not None]
    assert message.attachment is not None and message.attachment.to_wire() == {
        "id": file_id,
        "name": "",
        "type": "image/png",
        "size": stored["attachment"]["size"],
        "removed": True,
    }
    assert not message.unreadable
