"""Decide whether every database node runs in an allowed (EU/EEA) region."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from chat_service.storage.database import NodeInfo


@dataclass(frozen=True)
class ResidencyDecision:
    allowed: bool
    problems: tuple[str, ...]
    regions: tuple[str, ...]

    def summary(self) -> str:
        if self.allowed:
            return "database residency verified: " + ", ".join(self.regions)
        return "database residency refused:\n" + "\n".join(f"  - {p}" for p in self.problems)


def normalise_region(name: str) -> str:
    """`eu-central-1`, `EU_CENTRAL_1` and `EUROPE_WEST4`/`EUROPE_WEST_4` compare equal."""
    return re.sub(r"[^A-Z0-9]", "", name.upper())


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def decide(
    nodes: Iterable[NodeInfo],
    allowed_regions: Iterable[str],
    *,
    tag: str = "region",
    dev: bool = False,
) -> ResidencyDecision:
    """Every node must carry `tag` naming an allowed region.

    A node on the loopback interface (the embedded database, or one on this machine) is "local":
    accepted in dev mode only, since nothing proves where a production machine stands.
    """
    allowed = {normalise_region(r) for r in allowed_regions}
    problems: list[str] = []
    regions: list[str] = []
    node_list = list(nodes)
    if not node_list:
        problems.append("no database server was discovered")
    for node in node_list:
        region = node.tags.get(tag)
        if region is None:
            if is_loopback(node.host) and dev:
                regions.append(f"{node.address}=local (dev mode)")
                continue
            hint = " (a local database is accepted in dev mode only)" if is_loopback(node.host) else ""
            problems.append(f"{node.address} has no '{tag}' tag, so its location is unknown{hint}")
        elif normalise_region(region) not in allowed:
            problems.append(f"{node.address} is in region {region!r}, which is not in the allowed EU/EEA list")
        else:
            regions.append(f"{node.address}={region}")
    return ResidencyDecision(not problems, tuple(problems), tuple(regions))
