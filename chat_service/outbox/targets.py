"""Where a webhook may go: https, an EU/EEA region, and never a private, loopback or link-local address.

The URL is checked when an endpoint is saved; the addresses its name resolves to are checked again
at every connection (`CheckedResolver`), and the connection goes to the address that was checked,
so a name that resolves to a public address at save time and a private one later (DNS rebinding)
is still refused.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from chat_service.errors import InvalidInput
from chat_service.residency import normalise_region

MAX_URL = 2000


class TargetRefused(OSError):
    """The address a webhook would connect to is not allowed (private, loopback, link-local...)."""


def check_url(url: str, *, dev: bool) -> str:
    """A webhook URL as admins may save it; raises `InvalidInput` naming the problem."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL or any(c.isspace() for c in url):
        raise InvalidInput(f"url: an http(s) URL of at most {MAX_URL} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidInput("url: an http(s) URL with a host")
    if parts.scheme != "https" and not dev:
        raise InvalidInput("url: webhooks must use https")
    if parts.username or parts.password:
        raise InvalidInput("url: no user name or password in the URL (the signature authenticates us)")
    try:
        _ = parts.port
    except ValueError:
        raise InvalidInput("url: the port is not valid") from None
    literal = _ip(parts.hostname)
    if literal is not None and not address_allowed(literal, dev=dev):
        raise InvalidInput("url: private, loopback and link-local addresses are not allowed")
    return url


def check_region(region: object, allowed: Iterable[str], *, dev: bool) -> str:
    if not isinstance(region, str) or not 1 <= len(region) <= 64 or not region.strip():
        raise InvalidInput("region: the region the receiver is hosted in, e.g. eu-central-1")
    if not dev and normalise_region(region) not in {normalise_region(r) for r in allowed}:
        raise InvalidInput(f"region: {region!r} is not in the allowed EU/EEA list")
    return region.strip()


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def address_allowed(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, *, dev: bool) -> bool:
    """Public unicast only; dev mode also lets loopback and private addresses through (local receivers)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return False
    if ip.is_loopback or ip.is_private or ip.is_link_local:
        return dev
    return ip.is_global


def check_literal_host(url: str, *, dev: bool) -> None:
    """aiohttp skips the resolver for IP literals: check them before connecting."""
    host = urlsplit(url).hostname or ""
    literal = _ip(host)
    if literal is not None and not address_allowed(literal, dev=dev):
        raise TargetRefused(f"refused target address {literal}")


class CheckedResolver(AbstractResolver):
    """Resolves names, then refuses the lot if any address is not allowed."""

    def __init__(self, *, dev: bool, inner: AbstractResolver | None = None):
        self._dev = dev
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            ip = _ip(result["host"])
            if ip is None or not address_allowed(ip, dev=self._dev):
                raise TargetRefused(f"refused target: {host} resolves to a non-public address")
        return results

    async def close(self) -> None:
        await self._inner.close()


def is_refusal(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: Any = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, TargetRefused):
            return True
        seen.add(id(current))
        current = getattr(current, "os_error", None) or current.__cause__ or current.__context__
    return False
