"""`/metrics`: Prometheus text, never public by default, no personal data in any label."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from chat_service.settings import SettingsError, load_settings
from tests.helpers import SecantusProcess, ServerProcess, agent_client, call, free_port, login, visitor_client
from tests.retention_helpers import NOW, RetentionEnv, Visitor, days_ago
from tests.test_webhooks_api import Receiver, admin_of, receiver  # noqa: F401 (fixture)
from tests.waiting import eventually

TOKEN = "metrics-token-0123456789abcdef"


@pytest.fixture(scope="module")
def metrics_server(secantus: SecantusProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("metrics")
    token_file = workdir / "metrics.token"
    token_file.write_text(TOKEN + "\n")
    port = free_port()
    server = ServerProcess(
        secantus.uri,
        workdir / "server",
        env_extra={"CHAT_METRICS_LISTEN": f"127.0.0.1:{port}", "CHAT_METRICS_TOKEN_FILE": str(token_file)},
    ).start()
    server.metrics_url = f"http://127.0.0.1:{port}/metrics"  # type: ignore[attr-defined]
    yield server
    server.stop()


async def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers or {}) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.text()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_are_not_served_on_the_main_port_by_default(server: ServerProcess) -> None:
    status, _, _ = await fetch(server.url + "/metrics")
    assert status == 404


async def test_main_port_needs_the_bearer_token(metrics_server: ServerProcess) -> None:
    url = metrics_server.url + "/metrics"
    assert (await fetch(url))[0] == 401
    assert (await fetch(url, {"Authorization": "Bearer " + TOKEN[:-1] + "X"}))[0] == 401
    assert (await fetch(url, {"Authorization": "Basic " + TOKEN}))[0] == 401
    status, content_type, body = await fetch(url, {"Authorization": "Bearer " + TOKEN})
    assert status == 200 and content_type.startswith("text/plain") and "chat_connections" in body


async def test_connections_messages_latency_and_login_failures_are_counted_without_personal_data(
    metrics_server: ServerProcess,
) -> None:
    url = metrics_server.metrics_url  # type: ignore[attr-defined]
    text = "my secret order 4711 for jan@example.eu"
    visitor, _ = await visitor_client(metrics_server)
    await call(visitor, "/visitor", "message", {"client_id": "m1", "text": text})
    async with aiohttp.ClientSession() as session:
        async with session.post(
            metrics_server.url + "/api/session", json={"email": "nobody@example.eu", "password": "wrong password!"}
        ) as response:
            assert response.status in (401, 403)

    async def counted() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
        status, _, body = await fetch(url)
        assert status == 200
        values = samples(body)
        return values if values.get(("chat_connections", (("namespace", "/visitor"),))) == 1 else None

    values = await eventually(counted, what="the visitor's connection in chat_connections")
    assert values[("chat_messages_stored_total", (("sender", "visitor"),))] == 1
    assert values[("chat_ack_latency_seconds_count", (("event", "message"), ("namespace", "/visitor")))] == 1
    failures = {k: v for k, v in values.items() if k[0] == "chat_login_failures_total"}
    assert sum(failures.values()) == 1
    body = (await fetch(url))[2]
    for personal in ("4711", "jan@", "nobody@", "127.0.0.1"):
        assert personal not in body

    await visitor.disconnect()

    async def gone() -> bool:
        return samples((await fetch(url))[2]).get(("chat_connections", (("namespace", "/visitor"),))) == 0

    await eventually(gone, what="the connection to leave chat_connections")


def test_metrics_settings_are_validated(tmp_path: Path) -> None:
    short = tmp_path / "short.token"
    short.write_text("abc")
    with pytest.raises(SettingsError) as caught:
        load_settings(
            {
                "CHAT_DEV": "true",
                "CHAT_METRICS_LISTEN": "9100",
                "CHAT_METRICS_TOKEN_FILE": str(short),
                "CHAT_DRAIN_GRACE_SECONDS": "1",
            }
        )
    message = str(caught.value)
    for name in ("CHAT_METRICS_LISTEN", "CHAT_METRICS_TOKEN_FILE", "CHAT_DRAIN_GRACE_SECONDS"):
        assert name in message
    ok = tmp_path / "ok.token"
    ok.write_text(TOKEN)
    settings = load_settings(
        {"CHAT_DEV": "true", "CHAT_METRICS_LISTEN": "[::1]:9100", "CHAT_METRICS_TOKEN_FILE": str(ok)}
    )
    assert settings.metrics_listen == ("::1", 9100) and settings.drain_grace_seconds == 20


def delta(
    before: dict[tuple[str, tuple[tuple[str, str], ...]], float],
    after: dict[tuple[str, tuple[tuple[str, str], ...]], float],
    name: str,
    **labels: str,
) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def test_the_pipeline_counts_each_stored_message_once_by_sender_and_observes_its_batches(
    metrics_server: ServerProcess,
) -> None:
    url = metrics_server.metrics_url  # type: ignore[attr-defined]
    metrics_server.create_user("metrics-agent@example.eu", "correct horse battery staple")
    before = samples((await fetch(url))[2])
    visitor, _ = await visitor_client(metrics_server)
    first = await call(visitor, "/visitor", "message", {"client_id": "p1", "text": "hello"})
    again = await call(visitor, "/visitor", "message", {"client_id": "p1", "text": "hello"})  # a resend
    assert again["message"]["id"] == first["message"]["id"]
    cookie = await login(metrics_server, "metrics-agent@example.eu", "correct horse battery staple")
    agent, _ = await agent_client(metrics_server, cookie)
    reply = {"conversation_id": first["conversation_id"], "client_id": "r1", "text": "hi"}
    assert (await call(agent, "/agent", "reply", reply))["ok"]
    # A burst of typing events: the per-connection limit (5 a second) refuses some.
    answers = await asyncio.gather(*(call(visitor, "/visitor", "typing", {"typing": True}) for _ in range(12)))
    refused = sum(1 for a in answers if not a["ok"])
    assert refused >= 1
    after = samples((await fetch(url))[2])
    await visitor.disconnect()
    await agent.disconnect()

    assert delta(before, after, "chat_messages_stored_total", sender="visitor") == 1  # the resend is not counted
    assert delta(before, after, "chat_messages_stored_total", sender="agent") == 1
    assert delta(before, after, "chat_write_batch_size_count") >= 2
    assert delta(before, after, "chat_write_batch_size_sum") >= 2
    assert delta(before, after, "chat_write_queue_age_seconds_count") >= 2
    assert delta(before, after, "chat_db_write_latency_seconds_count", operation="message_batch") >= 2
    assert delta(before, after, "chat_rate_limit_refusals_total", limit="typing") == refused


async def test_outbox_outcomes_are_counted(
    secantus: SecantusProcess,
    tmp_path: Path,
    receiver: tuple[Receiver, str],  # noqa: F811
) -> None:
    rec, hook = receiver
    token_file = tmp_path / "metrics.token"
    token_file.write_text(TOKEN)
    server = ServerProcess(
        secantus.uri,
        tmp_path / "server",
        env_extra={"CHAT_METRICS_TOKEN_FILE": str(token_file), "CHAT_OUTBOX_POLL_MS": "100"},
    ).start()
    try:
        admin = await admin_of(server)
        status, body = await admin.request(
            "POST", "/api/webhooks", {"url": hook, "region": "eu-central-1", "events": ["message.created"]}
        )
        assert status == 201, body
        rec.secret = body["secret"]
        assert (await admin.request("POST", f"/api/webhooks/{body['endpoint']['id']}/test"))[0] == 202

        async def delivered() -> float | None:
            text = (await fetch(server.url + "/metrics", {"Authorization": "Bearer " + TOKEN}))[2]
            value = samples(text).get(("chat_outbox_deliveries_total", (("kind", "webhook"), ("outcome", "delivered"))))
            return value if value else None

        assert await eventually(delivered, what="the delivered webhook in the metrics") == 1
        assert len(rec.processed) == 1
    finally:
        server.stop()


def test_a_retention_run_writes_its_items_by_policy_and_outcome(secantus: SecantusProcess, tmp_path: Path) -> None:
    renv = RetentionEnv(secantus.uri, tmp_path / "retention")
    seeded = asyncio.run(_seed_retention(renv))
    out = tmp_path / "retention.prom"
    result = renv.retention("run", "--now", NOW.isoformat(), "--metrics-file", str(out))
    assert result.returncode == 0, result.stderr
    values = samples(out.read_text())
    done = {
        dict(labels)["policy"]: value
        for (name, labels), value in values.items()
        if name == "chat_retention_items_total" and dict(labels)["outcome"] == "done"
    }
    assert done["pseudonymise-30d"] == seeded["pseudonymise"] and done["delete-180d"] == seeded["delete"]
    assert all("example" not in str(key) for key in values)  # policy names and outcomes, nothing personal


async def _seed_retention(renv: RetentionEnv) -> dict[str, int]:
    async with renv.open() as (_, seed):
        for i in range(2):
            await seed.conversation(days_ago(40), [f"old {i}"], visitor=Visitor(email=f"p{i}@example.eu"))
        await seed.conversation(days_ago(200), ["older"])
    return {"pseudonymise": 2, "delete": 1}
