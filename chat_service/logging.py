"""structlog set-up and the processor that keeps personal data out of every log line."""

from __future__ import annotations

import ipaddress
import logging
import re
import sys
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any, TextIO

import structlog

REDACTED = "[redacted]"

# Keys whose values are never logged, whatever they contain (compared case-insensitively,
# ignoring '-' and '_'): message bodies, personal data and secrets.
SENSITIVE_KEYS = frozenset(
    k.replace("_", "")
    for k in (
        "text",
        "body",
        "message_text",
        "content",
        "email",
        "e_mail",
        "mail",
        "name",
        "visitor_name",
        "ip",
        "ip_address",
        "remote",
        "remote_addr",
        "peer",
        "peername",
        "host_ip",
        "x_forwarded_for",
        "forwarded",
        "user_agent",
        "page_url",
        "url_with_query",
        "referer",
        "referrer",
        "token",
        "resume_token",
        "session",
        "session_id",
        "cookie",
        "set_cookie",
        "authorization",
        "password",
        "secret",
        "key",
        "master_key",
        "data_key",
        "auth",
    )
)

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
# Candidates for IPv6 addresses (with optional zone or embedded IPv4); confirmed by `ipaddress`.
_IPV6_CANDIDATE = re.compile(r"(?<![0-9A-Za-z:])[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*(?:%\w+)?")
# Resume tokens are "<conversation id>.<secret>"; session ids and other secrets are long
# url-safe strings. Any run of 32+ such characters is treated as a secret.
_TOKEN = re.compile(r"[A-Za-z0-9_\-]{32,}(?:\.[A-Za-z0-9_\-]{16,})?")


# structlog's own bookkeeping; exceptions are scrubbed after they are rendered to text.
_PASSTHROUGH = frozenset({"exc_info", "stack_info", "level", "logger", "timestamp"})


def _norm(key: object) -> str:
    return str(key).lower().replace("_", "").replace("-", "")


def _ipv6_or_keep(match: re.Match[str]) -> str:
    candidate = match.group(0).split("%")[0]
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return match.group(0)
    return "[ip]"


@dataclass(frozen=True)
class OwnConfig:
    """A value of the server's own configuration (its database nodes, its listen address).

    Logged with its IP addresses, which are not personal data: they are ours. E-mail addresses
    and tokens are still scrubbed. Never wrap anything a client sent.
    """

    value: Any


def own_config(value: Any) -> OwnConfig:
    return OwnConfig(value)


def scrub_text(value: str, *, addresses: bool = True) -> str:
    value = _EMAIL.sub("[email]", value)
    if addresses:
        value = _IPV6_CANDIDATE.sub(_ipv6_or_keep, value)
        value = _IPV4.sub("[ip]", value)
    return _TOKEN.sub("[token]", value)


def scrub(value: Any, *, addresses: bool = True) -> Any:
    """Recursively scrub a value: sensitive keys blanked, free text pattern-scrubbed."""
    if isinstance(value, OwnConfig):
        return scrub(value.value, addresses=False)
    if isinstance(value, str):
        return scrub_text(value, addresses=addresses)
    if isinstance(value, dict):
        return {
            k: (REDACTED if _norm(k) in SENSITIVE_KEYS else scrub(v, addresses=addresses)) for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub(v, addresses=addresses) for v in value]
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub_text(repr(value), addresses=addresses)


def redact_personal_data(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: no message text, e-mail, IP address or token in any log line."""
    for key in list(event_dict):
        if key in _PASSTHROUGH or key.startswith("_"):
            continue
        if key == "event":
            event_dict[key] = scrub(event_dict[key])
        elif _norm(key) in SENSITIVE_KEYS:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = scrub(event_dict[key])
    return event_dict


def _scrub_exception(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    if "exception" in event_dict and isinstance(event_dict["exception"], str):
        event_dict["exception"] = scrub_text(event_dict["exception"])
    return event_dict


def configure_logging(level: str, fmt: str, stream: TextIO | None = None) -> None:
    """Route structlog and the standard library's logging through the same redacting chain."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        redact_personal_data,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    final: list[Any] = [structlog.processors.format_exc_info, _scrub_exception]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final, renderer],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    route_library_logs()
    # Access logs carry client IPs; we log requests ourselves without them.
    logging.getLogger("aiohttp.access").disabled = True
    for noisy in ("pymongo", "engineio", "socketio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def route_library_logs() -> None:
    """Every library logger writes through the root's redacting handler, never a handler of its own.

    python-engineio and python-socketio attach a plain `StreamHandler` when given `logger=False`
    (`app.build_socket_server` passes them logger objects instead); this removes any such handler
    that already exists, so no unredacted plain-text line reaches the log.
    """
    for logger in list(logging.root.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger) and logger.handlers:
            logger.handlers[:] = []
            logger.propagate = True


def get_logger(name: str) -> Any:
    return structlog.stdlib.get_logger(name)
