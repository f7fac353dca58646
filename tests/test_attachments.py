"""Files in conversations over HTTP against a live server: who may upload and download, limits,
type checks by content, metadata stripping, encryption at rest and the chunks' integrity."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import bson
import pytest
import socketio
from PIL import Image
from pypdf import PdfWriter

from tests.helpers import (
    Recorder,
    SecantusProcess,
    ServerProcess,
    agent_client,
    call,
    login_full,
    visitor_client,
)

PASSWORD = "correct horse battery staple"
AGENT = "files-agent@example.eu"
SITE_ORIGIN = "https://shop.example.eu"
OTHER_ORIGIN = "https://evil.example.net"
CANARY = "CANARY-Bakker-7731"
PDF_CANARY = "CANARYBakker7731"  # pypdf escapes '-' in PDF strings


@pytest.fixture(scope="module")
def live(secantus: SecantusProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("files")
    sites = workdir / "sites.toml"
    sites.write_text(f'[sites.shop]\norigins = ["{SITE_ORIGIN}"]\n')
    env = {"CHAT_SITES_FILE": str(sites), "CHAT_LIMIT_UPLOADS_PER_HOUR": "1000"}
    server = ServerProcess(secantus.uri, workdir, env_extra=env).start()
    server.create_user(AGENT, PASSWORD)
    yield server
    server.stop()


@dataclass
class Chat:
    """A visitor's conversation: its socket, events and token."""

    client: socketio.AsyncClient
    events: Recorder
    token: str
    id: str


@dataclass
class Staff:
    cookie: str
    csrf: str


@pytest.fixture
async def chat(live: ServerProcess) -> AsyncIterator[Chat]:
    client, events = await visitor_client(live)
    ack = await call(client, "/visitor", "message", {"client_id": "v1", "text": "Hello", "site_id": "shop"})
    assert ack["ok"], ack
    yield Chat(client, events, ack["token"], ack["conversation_id"])
    await client.disconnect()


@pytest.fixture
async def staff(live: ServerProcess) -> Staff:
    return Staff(*await login_full(live, AGENT, PASSWORD))


def png(color: tuple[int, int, int] = (200, 10, 10), size: tuple[int, int] = (32, 24)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def pdf(padding: int = 0, text: str = "") -> bytes:
    """A one-page PDF; `padding` random bytes (an embedded file) make it span several chunks."""
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    if padding:
        writer.add_attachment("padding.bin", os.urandom(padding))
    if text:
        writer.add_metadata({"/Subject": text})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@dataclass
class Answer:
    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        import json

        return json.loads(self.body)


def _headers(token: str | None, staff: Staff | None, origin: str | None, csrf: bool = True) -> dict[str, str]:
    headers: dict[str, str] = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if staff is not None:
        headers["Cookie"] = f"chat_session={staff.cookie}"
        if csrf:
            headers["X-CSRF-Token"] = staff.csrf
    if origin is not None:
        headers["Origin"] = origin
    return headers


async def upload(
    live: ServerProcess,
    conversation_id: str,
    data: bytes,
    name: str = "photo.png",
    *,
    token: str | None = None,
    staff: Staff | None = None,
    origin: str | None = None,
    client_id: str | None = None,
    content_type: str = "application/octet-stream",
    csrf: bool = True,
) -> Answer:
    form = aiohttp.FormData()
    if client_id is not None:
        form.add_field("client_id", client_id)
    form.add_field("file", data, filename=name, content_type=content_type)
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{live.url}/api/conversations/{conversation_id}/attachments",
            data=form,
            headers=_headers(token, staff, origin, csrf),
        ) as reply:
            return Answer(reply.status, reply.headers, await reply.read())


async def download(
    live: ServerProcess,
    file_id: str,
    *,
    token: str | None = None,
    staff: Staff | None = None,
    origin: str | None = None,
) -> Answer:
    async with aiohttp.ClientSession() as session:
        async with session.get(
            f"{live.url}/api/attachments/{file_id}", headers=_headers(token, staff, origin)
        ) as reply:
            return Answer(reply.status, reply.headers, await reply.read())


async def next_message(events: Recorder, message_id: str) -> dict[str, Any]:
    """The `message` event of this message (events of other messages before it are passed over)."""
    while True:
        message: dict[str, Any] = (await events.next("message"))["message"]
        if message["id"] == message_id:
            return message


def assert_problem(answer: Answer, status: int, code: str) -> dict[str, Any]:
    assert answer.status == status, answer.body[:500]
    body: dict[str, Any] = answer.json()
    assert body["code"] == code, body
    return body


def assert_served_safely(answer: Answer, kind: str) -> None:
    assert answer.status == 200, answer.body[:300]
    assert answer.headers["Content-Type"] == kind
    assert answer.headers["Content-Disposition"].startswith("attachment;")
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    cache = answer.headers["Cache-Control"]
    assert "no-store" in cache and "private" in cache and "public" not in cache


async def test_visitor_and_agent_exchange_files_and_each_downloads_them(
    live: ServerProcess, chat: Chat, staff: Staff
) -> None:
    agent_socket, agent_events = await agent_client(live, staff.cookie)
    try:
        sent = await upload(live, chat.id, png(), "holiday.png", token=chat.token, origin=SITE_ORIGIN)
        assert sent.status == 201, sent.body
        message = sent.json()["message"]
        attachment = message["attachment"]
        assert message["sender"] == "visitor" and message["text"] == "" and "agent_id" not in message
        assert attachment["name"] == "holiday.png" and attachment["type"] == "image/png"
        assert sent.headers["Access-Control-Allow-Origin"] == SITE_ORIGIN

        seen = await next_message(agent_events, message["id"])
        assert seen["id"] == message["id"] and seen["attachment"] == attachment

        got = await download(live, attachment["id"], staff=staff)
        assert_served_safely(got, "image/png")
        assert len(got.body) == attachment["size"]
        assert Image.open(io.BytesIO(got.body)).getpixel((3, 3)) == (200, 10, 10)
        audit = list(live.db().audit_events.find({"action": "attachment.downloaded"}))
        assert [(e["target_id"], e["details"]["file"]) for e in audit][-1] == (chat.id, attachment["id"])
        assert "holiday" not in str(audit)

        document = pdf(text="Invoice 42")
        reply = await upload(live, chat.id, document, "invoice.pdf", staff=staff)
        assert reply.status == 201, reply.body
        agent_file = reply.json()["message"]
        assert agent_file["sender"] == "agent" and agent_file["attachment"]["type"] == "application/pdf"
        pushed = await next_message(chat.events, agent_file["id"])
        assert pushed["attachment"] == agent_file["attachment"] and "agent_id" not in pushed
        own = await download(live, pushed["attachment"]["id"], token=chat.token, origin=SITE_ORIGIN)
        assert_served_safely(own, "application/pdf")
        assert own.body == document  # PDF files are stored as they came
        assert own.headers["Access-Control-Allow-Origin"] == SITE_ORIGIN

        # Resumed history shows both files with their names.
        resumed = await call(chat.client, "/visitor", "resume", {"token": chat.token})
        names = [m["attachment"]["name"] for m in resumed["messages"] if "attachment" in m]
        assert names == ["holiday.png", "invoice.pdf"]
    finally:
        await agent_socket.disconnect()


async def test_only_the_conversations_visitor_and_signed_in_agents_may_reach_its_files(
    live: ServerProcess, chat: Chat, staff: Staff
) -> None:
    other_client, _ = await visitor_client(live)
    other = await call(other_client, "/visitor", "message", {"client_id": "o1", "text": "Other"})
    await other_client.disconnect()
    sent = await upload(live, chat.id, png(), token=chat.token)
    file_id = sent.json()["message"]["attachment"]["id"]
    forged = chat.token[:-4] + ("AAAA" if not chat.token.endswith("AAAA") else "BBBB")

    assert_problem(await download(live, file_id), 401, "unauthenticated")
    assert_problem(await download(live, file_id, token=forged), 403, "invalid_token")
    assert_problem(await download(live, file_id, token="not-a-token"), 403, "invalid_token")
    assert_problem(await download(live, file_id, token=other["token"]), 404, "not_found")
    assert_problem(await upload(live, chat.id, png(), token=other["token"]), 403, "invalid_token")
    assert_problem(await upload(live, chat.id, png(), token=forged), 403, "invalid_token")
    assert_problem(await upload(live, chat.id, png(), staff=staff, csrf=False), 403, "forbidden")
    # Staff routes answer the console's origin only, never a widget site's.
    assert_problem(await download(live, file_id, staff=staff, origin=SITE_ORIGIN), 403, "forbidden_origin")
    # The token works from the conversation's site only.
    denied = await download(live, file_id, token=chat.token, origin=OTHER_ORIGIN)
    assert_problem(denied, 403, "forbidden_origin")
    assert "Access-Control-Allow-Origin" not in denied.headers
    # A signed-out session is refused.
    async with aiohttp.ClientSession() as session:
        await session.delete(live.url + "/api/session", headers=_headers(None, staff, None))
    assert_problem(await download(live, file_id, staff=staff), 401, "unauthenticated")
    assert (await download(live, file_id, token=chat.token)).status == 200


async def test_preflight_admits_the_sites_origins_only(live: ServerProcess, chat: Chat) -> None:
    async with aiohttp.ClientSession() as session:
        for origin, admitted in ((SITE_ORIGIN, True), (OTHER_ORIGIN, False)):
            async with session.options(
                f"{live.url}/api/conversations/{chat.id}/attachments",
                headers={
                    "Origin": origin,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization",
                },
            ) as reply:
                assert reply.status == 204
                assert (reply.headers.get("Access-Control-Allow-Origin") == origin) is admitted
                if admitted:
                    assert reply.headers["Access-Control-Allow-Headers"] == "Authorization"
                    assert "Access-Control-Allow-Credentials" not in reply.headers


async def test_a_file_over_the_limit_is_refused_and_nothing_is_stored(
    secantus: SecantusProcess, tmp_path: Path
) -> None:
    server = ServerProcess(secantus.uri, tmp_path / "small", env_extra={"CHAT_ATTACHMENT_MAX_BYTES": "100000"}).start()
    try:
        client, _ = await visitor_client(server)
        ack = await call(client, "/visitor", "message", {"client_id": "v1", "text": "Hello"})
        await client.disconnect()
        refused = await upload(server, ack["conversation_id"], pdf(padding=150_000), "big.pdf", token=ack["token"])
        assert assert_problem(refused, 413, "payload_too_large")["details"]["max_bytes"] == 100_000

        async def streamed() -> AsyncIterator[bytes]:  # no Content-Length: the cap holds while reading
            boundary = b"--b0undary\r\n"
            yield boundary + b'Content-Disposition: form-data; name="file"; filename="big.pdf"\r\n\r\n'
            for _ in range(20):
                yield b"%PDF-" + b"x" * 10_000
            yield b"\r\n--b0undary--\r\n"

        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"{server.url}/api/conversations/{ack['conversation_id']}/attachments",
                data=streamed(),
                headers={
                    "Authorization": f"Bearer {ack['token']}",
                    "Content-Type": "multipart/form-data; boundary=b0undary",
                },
            ) as reply:
                assert reply.status == 413
        db = server.db()
        assert db.attachments.count_documents({}) == 0 and db.attachment_chunks.count_documents({}) == 0
        assert db.messages.count_documents({}) == 1
        assert (await upload(server, ack["conversation_id"], png(), token=ack["token"])).status == 201
    finally:
        server.stop()


HTML = b"<!doctype html><script>alert(document.cookie)</script>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


@pytest.mark.parametrize(
    ("data", "name", "content_type"),
    [
        (HTML, "cat.png", "image/png"),
        (SVG, "cat.svg", "image/svg+xml"),
        (b"\x89PNG\r\n\x1a\n" + HTML, "cat.png", "image/png"),  # the magic alone is not enough
        (b"%PDF-1.7\n" + HTML, "doc.pdf", "application/pdf"),
        (b"", "empty.png", "image/png"),
    ],
)
async def test_type_is_judged_by_content_not_by_name_or_content_type(
    live: ServerProcess, chat: Chat, data: bytes, name: str, content_type: str
) -> None:
    refused = await upload(live, chat.id, data, name, token=chat.token, content_type=content_type)
    assert_problem(refused, 415, "unsupported_file")


async def test_a_jpeg_named_png_is_stored_as_jpeg_with_a_matching_name(live: ServerProcess, chat: Chat) -> None:
    out = io.BytesIO()
    Image.new("RGB", (20, 20), (0, 90, 0)).save(out, "JPEG")
    sent = await upload(live, chat.id, out.getvalue(), "..\\..\\cat\u202egnp.png", token=chat.token)
    attachment = sent.json()["message"]["attachment"]
    assert attachment["type"] == "image/jpeg"
    assert attachment["name"] == "catgnp.png.jpg"  # no path, no direction override, the real extension
    got = await download(live, attachment["id"], token=chat.token)
    assert got.headers["Content-Type"] == "image/jpeg"
    assert got.headers["Content-Disposition"] == f'attachment; filename="{attachment["id"]}.jpg"'


def jpeg_with_metadata() -> bytes:
    """A photo as a phone writes it: GPS position, camera, orientation, XMP, a comment."""
    exif = Image.Exif()
    exif[0x010F] = "CanaryPhone"  # Make
    exif[0x0110] = CANARY  # Model
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    exif[0x8825] = {1: "N", 2: (52.0, 22.0, 1.5), 3: "E", 4: (4.0, 53.0, 2.0)}  # GPSInfo
    out = io.BytesIO()
    image = Image.new("RGB", (64, 48), (10, 120, 200))
    xmp = f'<x:xmpmeta xmlns:x="adobe:ns:meta/">{CANARY}</x:xmpmeta>'.encode()
    image.save(out, "JPEG", exif=exif, comment=CANARY.encode(), xmp=xmp)
    data = out.getvalue()
    assert CANARY.encode() in data and Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)
    return data


async def test_gps_position_and_other_metadata_are_stripped_from_photos(live: ServerProcess, chat: Chat) -> None:
    sent = await upload(live, chat.id, jpeg_with_metadata(), "IMG_0001.jpg", token=chat.token)
    attachment = sent.json()["message"]["attachment"]
    got = await download(live, attachment["id"], token=chat.token)
    assert CANARY.encode() not in got.body and b"CanaryPhone" not in got.body
    assert b"Exif" not in got.body and b"xmpmeta" not in got.body
    photo = Image.open(io.BytesIO(got.body))
    assert len(photo.getexif()) == 0 and not photo.getexif().get_ifd(0x8825)
    assert "comment" not in photo.info and "icc_profile" not in photo.info
    assert photo.size == (48, 64)  # turned as the camera meant it before the tag went


async def test_nothing_of_a_file_is_readable_at_rest(live: ServerProcess, chat: Chat) -> None:
    document = pdf(text=PDF_CANARY)
    assert PDF_CANARY.encode() in document
    sent = await upload(live, chat.id, document, f"{PDF_CANARY}.pdf", token=chat.token)
    assert sent.status == 201
    db = live.db()
    assert db.attachment_chunks.count_documents({"conversation_id": chat.id}) >= 1
    stored = b"".join(bson.encode(doc) for name in db.list_collection_names() for doc in db[name].find())
    assert PDF_CANARY.encode() not in stored and PDF_CANARY.lower().encode() not in stored.lower()
    assert PDF_CANARY not in live.logs()


async def test_swapped_dropped_or_altered_chunks_fail_their_integrity_check(live: ServerProcess, chat: Chat) -> None:
    document = pdf(padding=600_000)  # three chunks of 256 KiB
    first = (await upload(live, chat.id, document, "big.pdf", token=chat.token)).json()["message"]["attachment"]
    second = (await upload(live, chat.id, png(), token=chat.token)).json()["message"]["attachment"]
    chunks = live.db().attachment_chunks
    stored = {doc["n"]: doc["data"] for doc in chunks.find({"file_id": first["id"]})}
    assert sorted(stored) == [0, 1, 2]

    def put(n: int, data: bytes) -> None:
        chunks.update_one({"file_id": first["id"], "n": n}, {"$set": {"data": data}})

    async def refused() -> None:
        assert_problem(await download(live, first["id"], token=chat.token), 500, "decryption_failed")

    put(0, stored[1])
    put(1, stored[0])
    await refused()  # reordered
    put(0, stored[0])
    put(1, stored[1])
    other_chunk = chunks.find_one({"file_id": second["id"]})
    assert other_chunk is not None
    put(2, other_chunk["data"])
    await refused()  # another file's chunk
    put(2, stored[2][:-1] + bytes([stored[2][-1] ^ 1]))
    await refused()  # one bit flipped
    put(2, stored[2])
    live.db().attachments.update_one({"_id": first["id"]}, {"$set": {"chunks": 2, "size": 2 * 256 * 1024}})
    await refused()  # truncated
    live.db().attachments.update_one({"_id": first["id"]}, {"$set": {"chunks": 3, "size": len(document)}})
    assert (await download(live, first["id"], token=chat.token)).body == document


async def test_a_resent_upload_with_the_same_client_id_is_stored_once(live: ServerProcess, chat: Chat) -> None:
    one = await upload(live, chat.id, png(), token=chat.token, client_id="file-k1")
    two = await upload(live, chat.id, png(), token=chat.token, client_id="file-k1")
    assert one.status == two.status == 201
    assert one.json()["message"]["id"] == two.json()["message"]["id"]
    assert live.db().attachments.count_documents({"conversation_id": chat.id}) == 1
    assert_problem(await upload(live, chat.id, png(), token=chat.token, client_id="bad id!"), 400, "invalid_input")


async def test_agents_cannot_attach_to_a_closed_conversation_and_a_visitors_file_reopens_it(
    live: ServerProcess, chat: Chat, staff: Staff
) -> None:
    agent_socket, agent_events = await agent_client(live, staff.cookie)
    try:
        closed = await call(agent_socket, "/agent", "close", {"conversation_id": chat.id})
        assert closed["ok"], closed
        await agent_events.next("conversation_updated")
        assert_problem(await upload(live, chat.id, png(), staff=staff), 409, "conversation_closed")
        assert (await upload(live, chat.id, png(), token=chat.token)).status == 201
        reopened = await agent_events.next("conversation_updated")
        assert reopened["conversation"]["status"] == "open"
    finally:
        await agent_socket.disconnect()


async def test_visitor_uploads_are_limited_per_address(secantus: SecantusProcess, tmp_path: Path) -> None:
    server = ServerProcess(secantus.uri, tmp_path / "limited", env_extra={"CHAT_LIMIT_UPLOADS_PER_HOUR": "2"}).start()
    try:
        client, _ = await visitor_client(server)
        ack = await call(client, "/visitor", "message", {"client_id": "v1", "text": "Hello"})
        await client.disconnect()
        for _ in range(2):
            assert (await upload(server, ack["conversation_id"], png(), token=ack["token"])).status == 201
        limited = await upload(server, ack["conversation_id"], png(), token=ack["token"])
        assert assert_problem(limited, 429, "rate_limited")["details"]["retry_after"] >= 1
        assert int(limited.headers["Retry-After"]) >= 1
    finally:
        server.stop()
