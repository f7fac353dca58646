"""The EU residency decision on real PyMongo topology descriptions."""

from __future__ import annotations

from typing import Any

import pytest
from bson import ObjectId
from pymongo.hello import Hello
from pymongo.server_description import ServerDescription
from pymongo.topology_description import TOPOLOGY_TYPE, TopologyDescription

from chat_service.residency import decide
from chat_service.settings import DEFAULT_EU_REGIONS
from chat_service.storage.database import describe_nodes


def topology(*members: tuple[str, dict[str, str] | None]) -> TopologyDescription:
    hosts = [host for host, _ in members]
    servers = {}
    for i, (host, tags) in enumerate(members):
        doc: dict[str, Any] = {
            "ok": 1,
            "setName": "rs0",
            "hosts": hosts,
            "isWritablePrimary": i == 0,
            "secondary": i != 0,
            "maxWireVersion": 21,
            "me": host,
        }
        if tags is not None:
            doc["tags"] = tags
        name, port = host.rsplit(":", 1)
        servers[(name, int(port))] = ServerDescription((name, int(port)), Hello(doc))
    return TopologyDescription(TOPOLOGY_TYPE.ReplicaSetWithPrimary, servers, "rs0", None, ObjectId(), None)


def judge(topo: TopologyDescription, dev: bool = False) -> Any:
    return decide(describe_nodes(topo), DEFAULT_EU_REGIONS, dev=dev)


def test_all_nodes_in_eu_regions_pass() -> None:
    topo = topology(
        ("a.mongodb.net:27017", {"region": "EU_CENTRAL_1", "provider": "AWS"}),
        ("b.mongodb.net:27017", {"region": "EUROPE_WEST4", "provider": "GCP"}),
        ("c.mongodb.net:27017", {"region": "EUROPE_WEST", "provider": "AZURE"}),
    )
    decision = judge(topo)
    assert decision.allowed, decision.problems
    assert len(decision.regions) == 3


def test_a_non_eu_node_is_refused_and_named() -> None:
    decision = judge(topology(("a.net:27017", {"region": "US_EAST_1"})))
    assert not decision.allowed
    assert "a.net:27017" in decision.problems[0] and "US_EAST_1" in decision.problems[0]


def test_mixed_regions_are_refused() -> None:
    decision = judge(topology(("a.net:27017", {"region": "EU_WEST_1"}), ("b.net:27017", {"region": "AP_SOUTHEAST_2"})))
    assert not decision.allowed
    assert len(decision.problems) == 1 and "b.net" in decision.problems[0]


@pytest.mark.parametrize("tags", [None, {}, {"provider": "AWS"}])
def test_missing_region_tag_is_refused(tags: dict[str, str] | None) -> None:
    decision = judge(topology(("a.net:27017", tags)))
    assert not decision.allowed
    assert "no 'region' tag" in decision.problems[0]


@pytest.mark.parametrize("region", ["EU_WEST_2", "EUROPE_WEST_6", "eu-central-2"])  # London, Zurich
def test_non_eea_european_regions_are_not_in_the_default_list(region: str) -> None:
    assert not judge(topology(("a.net:27017", {"region": region}))).allowed


def test_self_hosted_lowercase_names_match() -> None:
    assert judge(topology(("db1.internal:27017", {"region": "eu-central-1"}))).allowed


def test_local_database_only_in_dev_mode() -> None:
    topo = topology(("127.0.0.1:27017", None))
    assert judge(topo, dev=True).allowed
    refused = judge(topo, dev=False)
    assert not refused.allowed
    assert "dev mode only" in refused.problems[0]


def test_no_servers_is_refused() -> None:
    assert not decide([], DEFAULT_EU_REGIONS).allowed
