"""Two chat nodes behind one Redis: events reach clients on the other node."""

from __future__ import annotations

from tests.helpers import ServerProcess, agent_client, call, login, visitor_client

REDIS_URL = "redis://127.0.0.1:6379/0"


async def test_visitor_on_one_node_and_agent_on_another(two_nodes: tuple[ServerProcess, ServerProcess]) -> None:
    node_a, node_b = two_nodes
    node_a.create_user("scale@example.eu", "correct horse battery staple")
    agent, agent_events = await agent_client(
        node_b, await login(node_b, "scale@example.eu", "correct horse battery staple")
    )
    visitor, visitor_events = await visitor_client(node_a)

    ack = await call(visitor, "/visitor", "message", {"client_id": "v1", "text": "via node A"})
    created = await agent_events.next("conversation_created")
    assert created["message"]["text"] == "via node A"

    await call(
        agent, "/agent", "reply", {"conversation_id": ack["conversation_id"], "client_id": "r1", "text": "via node B"}
    )
    assert (await visitor_events.next("message"))["message"]["text"] == "via node B"
    await visitor.disconnect()
    await agent.disconnect()
