"""The one validated settings object, built once in `main` from the environment and flags.

Every setting is listed in `SETTINGS_DOC` (the README's configuration table is generated from
the same names). `load_settings` collects every problem and raises one `SettingsError` naming
them all, so an operator fixes a broken deployment in one pass.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from chat_service.sites import SitesError, read_sites_file

# Atlas region names (AWS, GCP, Azure) for EU/EEA locations. Switzerland and the UK are left out:
# they have adequacy decisions but are not EU/EEA; operators may add them explicitly.
DEFAULT_EU_REGIONS: tuple[str, ...] = (
    # AWS
    "EU_CENTRAL_1",
    "EU_WEST_1",
    "EU_WEST_3",
    "EU_NORTH_1",
    "EU_SOUTH_1",
    "EU_SOUTH_2",
    # Google Cloud
    "WESTERN_EUROPE",
    "EUROPE_NORTH_1",
    "EUROPE_NORTH_2",
    "EUROPE_WEST_1",
    "EUROPE_WEST_3",
    "EUROPE_WEST_4",
    "EUROPE_WEST_8",
    "EUROPE_WEST_9",
    "EUROPE_WEST_10",
    "EUROPE_WEST_12",
    "EUROPE_CENTRAL_2",
    "EUROPE_SOUTHWEST_1",
    # Azure
    "EUROPE_NORTH",
    "EUROPE_WEST",
    "FRANCE_CENTRAL",
    "FRANCE_SOUTH",
    "GERMANY_WEST_CENTRAL",
    "GERMANY_NORTH",
    "SWEDEN_CENTRAL",
    "SWEDEN_SOUTH",
    "POLAND_CENTRAL",
    "ITALY_NORTH",
    "SPAIN_CENTRAL",
    "NORWAY_EAST",
    "NORWAY_WEST",
    "AUSTRIA_EAST",
    "BELGIUM_CENTRAL",
    "DENMARK_EAST",
)

LogFormat = Literal["json", "console"]

_DB_NAME = re.compile(r"^[A-Za-z0-9_-]{1,63}$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingsError(Exception):
    """Every bad or missing setting, in one message."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("Invalid settings:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class Settings:
    dev: bool = False
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    data_dir: Path = Path("var")
    mongodb_uri: str | None = None
    mongodb_database: str = "chat_service"
    mongodb_timeout_ms: int = 10_000
    master_key_file: Path | None = None
    master_keys: str | None = field(default=None, repr=False)
    hmac_keys_file: Path | None = None
    allowed_regions: frozenset[str] = frozenset(DEFAULT_EU_REGIONS)
    region_tag: str = "region"
    allowed_origins: tuple[str, ...] = ()
    max_text_length: int = 4000
    resume_token_days: int = 30
    session_idle_minutes: int = 480
    trust_proxy: bool = False
    redis_url: str | None = None
    log_level: str = "INFO"
    log_format: LogFormat = "json"
    sites_file: Path | None = None
    retention_policies_file: Path | None = None
    retention_batch_size: int = 200
    retention_lease_seconds: int = 300
    security_contact: str | None = None
    session_max_days: int = 7
    proxy_hops: int = 1
    require_2fa_for_admins: bool = False
    key_rotation_days: int = 7
    shredding_window_days: int = 30
    limit_messages_per_minute: int = 30
    limit_typing_per_second: int = 5
    limit_connections_per_address: int = 20
    limit_conversations_per_hour: int = 30
    limit_uploads_per_hour: int = 30
    attachment_max_bytes: int = 10 * 1024 * 1024
    attachment_max_pixels: int = 40_000_000
    endings_poll_seconds: int = 1
    drain_grace_seconds: int = 20
    metrics_listen: tuple[str, int] | None = None
    metrics_token_file: Path | None = None
    mongodb_pool_size: int = 8
    write_queue_max_wait_ms: int = 2000
    write_batch_max: int = 256
    bookkeeping_interval_ms: int = 10_000
    outbox_worker: bool = True
    outbox_timeout_s: int = 10
    outbox_concurrency: int = 4
    outbox_poll_ms: int = 1000
    outbox_retention_days: int = 7
    bot_timeout_s: int = 5
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_tls: str = "starttls"
    smtp_user: str | None = None
    smtp_password_file: Path | None = None
    smtp_from: str | None = None
    smtp_ca_file: Path | None = None
    limit_transcripts_per_hour: int = 3
    waiting_notify_minutes: int = 0
    tracing_otlp_endpoint: str | None = None

    @property
    def embedded(self) -> bool:
        """True when we start SecantusDB ourselves (no MONGODB_URI given)."""
        return self.mongodb_uri is None

    @property
    def effective_hmac_keys_file(self) -> Path | None:
        if self.hmac_keys_file is not None:
            return self.hmac_keys_file
        return self.data_dir / "hmac.keys" if self.dev else None

    @property
    def effective_master_key_file(self) -> Path | None:
        if self.master_key_file is not None:
            return self.master_key_file
        if self.master_keys is None and self.dev:
            return self.data_dir / "master.keys"
        return None

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


# name -> (environment variable, meaning). Defaults come from the dataclass.
SETTINGS_DOC: dict[str, tuple[str, str]] = {
    "dev": ("CHAT_DEV", "Development mode: embedded database allowed, dev master key, console logs."),
    "host": ("CHAT_HOST", "Interface to listen on."),
    "port": ("CHAT_PORT", "TCP port to listen on."),
    "public_url": ("CHAT_PUBLIC_URL", "URL visitors reach the service at (shown in the start-up banner)."),
    "data_dir": ("CHAT_DATA_DIR", "Folder for the embedded database and the dev master key."),
    "mongodb_uri": ("MONGODB_URI", "MongoDB connection string; unset starts embedded SecantusDB (dev only)."),
    "mongodb_database": ("CHAT_MONGODB_DATABASE", "Database name."),
    "mongodb_timeout_ms": ("CHAT_MONGODB_TIMEOUT_MS", "Server selection / operation timeout in ms."),
    "master_key_file": ("CHAT_MASTER_KEY_FILE", "Key ring file (JSON, mode 0600) of master keys."),
    "master_keys": ("CHAT_MASTER_KEYS", "Master keys as `id:base64,id:base64`; the last is active."),
    "hmac_keys_file": (
        "CHAT_HMAC_KEYS_FILE",
        "JSON file (mode 0600) of HMAC keys for the audit chain, e-mail blind index and pseudonyms.",
    ),
    "allowed_regions": ("CHAT_ALLOWED_REGIONS", "Comma-separated EU/EEA region names the database may run in."),
    "region_tag": ("CHAT_REGION_TAG", "Replica-set tag that names a node's region."),
    "allowed_origins": ("CHAT_ALLOWED_ORIGINS", "Comma-separated origins allowed to open Socket.IO/API requests."),
    "max_text_length": ("CHAT_MAX_TEXT_LENGTH", "Longest message text accepted, in characters."),
    "resume_token_days": ("CHAT_RESUME_TOKEN_DAYS", "Days a visitor's resume token stays valid after last use."),
    "session_idle_minutes": ("CHAT_SESSION_IDLE_MINUTES", "Agent session expiry after inactivity."),
    "trust_proxy": ("CHAT_TRUST_PROXY", "Trust X-Forwarded-For/-Proto from the reverse proxy."),
    "redis_url": ("CHAT_REDIS_URL", "Redis URL for multi-node event fan-out (unset: single node)."),
    "log_level": ("CHAT_LOG_LEVEL", "DEBUG, INFO, WARNING or ERROR."),
    "log_format": ("CHAT_LOG_FORMAT", "json or console (default: console in dev, json otherwise)."),
    "sites_file": ("CHAT_SITES_FILE", "TOML/JSON file of widget sites: origins, privacy notice (dev: a demo site)."),
    "retention_policies_file": (
        "CHAT_RETENTION_POLICIES_FILE",
        "TOML file of retention policies for `chat-retention` (unset: the documented defaults).",
    ),
    "retention_batch_size": ("CHAT_RETENTION_BATCH_SIZE", "Conversations the retention job changes per transaction."),
    "retention_lease_seconds": (
        "CHAT_RETENTION_LEASE_SECONDS",
        "Lease length of a retention run; another host may take over a run silent for this long.",
    ),
    "security_contact": (
        "CHAT_SECURITY_CONTACT",
        "Where to report vulnerabilities (`mailto:` or `https:` URI), served in /.well-known/security.txt "
        "(unset: that file answers 404).",
    ),
    "session_max_days": ("CHAT_SESSION_MAX_DAYS", "Absolute lifetime of an agent session, however active."),
    "proxy_hops": (
        "CHAT_PROXY_HOPS",
        "With CHAT_TRUST_PROXY: trusted proxies in front of the service; the client address is the "
        "X-Forwarded-For entry this many places from the right.",
    ),
    "require_2fa_for_admins": (
        "CHAT_REQUIRE_2FA_FOR_ADMINS",
        "Admins must enrol a TOTP second factor before they can do anything else.",
    ),
    "key_rotation_days": (
        "CHAT_KEY_ROTATION_DAYS",
        "`chat-retention run` adds a new master key and re-wraps every data key once the active one is this old.",
    ),
    "shredding_window_days": (
        "CHAT_SHREDDING_WINDOW_DAYS",
        "Longest of oplog window and backup retention: master keys retired this long ago are destroyed.",
    ),
    "limit_messages_per_minute": (
        "CHAT_LIMIT_MESSAGES_PER_MINUTE",
        "Messages one visitor connection may send in any minute; more answer `rate_limited`.",
    ),
    "limit_typing_per_second": (
        "CHAT_LIMIT_TYPING_PER_SECOND",
        "Typing events one visitor connection may send in any second; more answer `rate_limited`.",
    ),
    "limit_connections_per_address": (
        "CHAT_LIMIT_CONNECTIONS_PER_ADDRESS",
        "Concurrent visitor connections one address may hold on one node.",
    ),
    "limit_conversations_per_hour": (
        "CHAT_LIMIT_CONVERSATIONS_PER_HOUR",
        "New conversations one address may start per clock hour (counted across nodes).",
    ),
    "limit_uploads_per_hour": (
        "CHAT_LIMIT_UPLOADS_PER_HOUR",
        "Files one visitor address may attach per clock hour (counted across nodes).",
    ),
    "attachment_max_bytes": (
        "CHAT_ATTACHMENT_MAX_BYTES",
        "Largest file (image or PDF) visitors and agents may attach, in bytes (default 10 MiB).",
    ),
    "attachment_max_pixels": (
        "CHAT_ATTACHMENT_MAX_PIXELS",
        "Most pixels an attached image may have (all frames of an animation together); larger ones are refused "
        "before they are decoded.",
    ),
    "endings_poll_seconds": (
        "CHAT_ENDINGS_POLL_SECONDS",
        "How often each node checks for erased or forgotten conversations started elsewhere.",
    ),
    "drain_grace_seconds": (
        "CHAT_DRAIN_GRACE_SECONDS",
        "On SIGTERM: seconds to finish in-flight writes and move clients to other nodes before exiting.",
    ),
    "metrics_listen": (
        "CHAT_METRICS_LISTEN",
        "`host:port` of a separate listener that serves only `/metrics` (Prometheus text format).",
    ),
    "metrics_token_file": (
        "CHAT_METRICS_TOKEN_FILE",
        "File holding a bearer token; when set, `/metrics` is also served on the main port to that token.",
    ),
    "mongodb_pool_size": ("CHAT_MONGODB_POOL_SIZE", "Most connections to the database per process (keep it small)."),
    "write_queue_max_wait_ms": (
        "CHAT_WRITE_QUEUE_MAX_WAIT_MS",
        "Longest a message may wait to be written (ms); beyond it new ones get `unavailable` + `retry_after`.",
    ),
    "write_batch_max": ("CHAT_WRITE_BATCH_MAX", "Most messages the write pipeline stores in one batch."),
    "bookkeeping_interval_ms": (
        "CHAT_BOOKKEEPING_INTERVAL_MS",
        "Longest a conversation's counters and activity clock wait to be folded in under load (ms).",
    ),
    "outbox_worker": ("CHAT_OUTBOX_WORKER", "Run the outbox delivery worker (webhooks) in this process."),
    "outbox_timeout_s": ("CHAT_OUTBOX_TIMEOUT_S", "Timeout of one webhook delivery attempt, in seconds."),
    "outbox_concurrency": ("CHAT_OUTBOX_CONCURRENCY", "Webhook requests in flight per endpoint per process."),
    "outbox_poll_ms": ("CHAT_OUTBOX_POLL_MS", "How often the worker looks for deliveries due (other nodes' too)."),
    "outbox_retention_days": (
        "CHAT_OUTBOX_RETENTION_DAYS",
        "Days a delivered (or finally failed) outbox entry is kept for the deliveries log.",
    ),
    "bot_timeout_s": (
        "CHAT_BOT_TIMEOUT_S",
        "Seconds a bot may take to answer a visitor's message; then the conversation goes to people.",
    ),
    "smtp_host": ("CHAT_SMTP_HOST", "SMTP server for offline-message e-mail (unset: no e-mail is sent)."),
    "smtp_port": ("CHAT_SMTP_PORT", "SMTP port (587 for STARTTLS, 465 for implicit TLS)."),
    "smtp_tls": ("CHAT_SMTP_TLS", "starttls, implicit or none (none only in dev mode: never mail in clear)."),
    "smtp_user": ("CHAT_SMTP_USER", "SMTP user name (unset: no authentication)."),
    "smtp_password_file": ("CHAT_SMTP_PASSWORD_FILE", "File holding the SMTP password (mode 0600)."),
    "smtp_from": ("CHAT_SMTP_FROM", "Sender address of the service's e-mail, e.g. chat@example.eu."),
    "smtp_ca_file": ("CHAT_SMTP_CA_FILE", "Extra CA certificate to trust for the SMTP server (a private relay)."),
    "limit_transcripts_per_hour": (
        "CHAT_LIMIT_TRANSCRIPTS_PER_HOUR",
        "Transcript e-mails a visitor may ask for per conversation per clock hour (counted across nodes).",
    ),
    "waiting_notify_minutes": (
        "CHAT_WAITING_NOTIFY_MINUTES",
        "E-mail the site's team once when a conversation has waited this many minutes for an agent (0: off).",
    ),
    "tracing_otlp_endpoint": (
        "CHAT_TRACING_OTLP_ENDPOINT",
        "OTLP/HTTP traces URL (e.g. http://collector:4318/v1/traces); unset: no OpenTelemetry tracing.",
    ),
}


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError("expected true/false")


def _parse_int(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw.strip())
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return parse


def _parse_list(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _parse_origin_list(raw: str) -> tuple[str, ...]:
    origins = _parse_list(raw)
    for origin in origins:
        if origin != "*" and not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+", origin):
            raise ValueError(f"{origin!r} is not an origin like https://example.eu")
    return origins


def _parse_regions(raw: str) -> frozenset[str]:
    regions = _parse_list(raw)
    if not regions:
        raise ValueError("at least one region is required")
    return frozenset(regions)


def _parse_db_name(raw: str) -> str:
    if not _DB_NAME.fullmatch(raw):
        raise ValueError("letters, digits, '_' and '-' only, 1-63 characters")
    return raw


def _parse_log_level(raw: str) -> str:
    value = raw.strip().upper()
    if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError("expected DEBUG, INFO, WARNING or ERROR")
    return value


def _parse_log_format(raw: str) -> str:
    value = raw.strip().lower()
    if value not in {"json", "console"}:
        raise ValueError("expected json or console")
    return value


def _parse_mongodb_uri(raw: str) -> str:
    if not raw.startswith(("mongodb://", "mongodb+srv://")):
        raise ValueError("must start with mongodb:// or mongodb+srv://")
    return raw


def _parse_url(raw: str) -> str:
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", raw):
        raise ValueError("must be an http(s) URL")
    return raw.rstrip("/")


def _parse_str(raw: str) -> str:
    if not raw.strip():
        raise ValueError("must not be empty")
    return raw.strip()


def _parse_contact_uri(raw: str) -> str:
    value = raw.strip()
    if not re.fullmatch(r"(mailto:[^@\s]+@[^@\s]+|https://\S+|tel:\+?[0-9 ()-]+)", value):
        raise ValueError("expected a mailto:, https: or tel: URI")
    return value


def _parse_smtp_tls(raw: str) -> str:
    value = raw.strip().lower()
    if value not in {"starttls", "implicit", "none"}:
        raise ValueError("expected starttls, implicit or none")
    return value


def _parse_email(raw: str) -> str:
    if not re.fullmatch(r"[^@\s<>\"]{1,64}@[A-Za-z0-9.-]{1,253}", raw.strip()):
        raise ValueError("expected an e-mail address like chat@example.eu")
    return raw.strip()


def _parse_sites_file(raw: str) -> Path:
    path = Path(_parse_str(raw))
    try:
        read_sites_file(path)
    except SitesError as exc:
        raise ValueError("; ".join(exc.problems)) from None
    return path


def _parse_listen(raw: str) -> tuple[str, int]:
    host, sep, port = raw.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("expected host:port, e.g. 127.0.0.1:9100")
    return host.strip("[]"), int(port)


MIN_METRICS_TOKEN = 16


def _parse_token_file(raw: str) -> Path:
    path = Path(_parse_str(raw))
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc.__class__.__name__}") from None
    if len(token) < MIN_METRICS_TOKEN or any(c.isspace() for c in token):
        raise ValueError(f"the token must be one word of at least {MIN_METRICS_TOKEN} characters")
    return path


_PARSERS: dict[str, Callable[[str], Any]] = {
    "dev": _parse_bool,
    "host": _parse_str,
    "port": _parse_int(0, 65535),
    "public_url": _parse_url,
    "data_dir": lambda raw: Path(_parse_str(raw)),
    "mongodb_uri": _parse_mongodb_uri,
    "mongodb_database": _parse_db_name,
    "mongodb_timeout_ms": _parse_int(100, 600_000),
    "master_key_file": lambda raw: Path(_parse_str(raw)),
    "master_keys": _parse_str,
    "hmac_keys_file": lambda raw: Path(_parse_str(raw)),
    "allowed_regions": _parse_regions,
    "region_tag": _parse_str,
    "allowed_origins": _parse_origin_list,
    "max_text_length": _parse_int(1, 100_000),
    "resume_token_days": _parse_int(1, 365),
    "session_idle_minutes": _parse_int(1, 7 * 24 * 60),
    "trust_proxy": _parse_bool,
    "redis_url": _parse_str,
    "log_level": _parse_log_level,
    "log_format": _parse_log_format,
    "sites_file": _parse_sites_file,
    "retention_policies_file": lambda raw: Path(_parse_str(raw)),
    "retention_batch_size": _parse_int(1, 10_000),
    "retention_lease_seconds": _parse_int(1, 86_400),
    "security_contact": _parse_contact_uri,
    "session_max_days": _parse_int(1, 365),
    "proxy_hops": _parse_int(1, 10),
    "require_2fa_for_admins": _parse_bool,
    "key_rotation_days": _parse_int(1, 365),
    "shredding_window_days": _parse_int(1, 3650),
    "limit_messages_per_minute": _parse_int(1, 100_000),
    "limit_typing_per_second": _parse_int(1, 1000),
    "limit_connections_per_address": _parse_int(1, 100_000),
    "limit_conversations_per_hour": _parse_int(1, 1_000_000),
    "limit_uploads_per_hour": _parse_int(1, 1_000_000),
    "attachment_max_bytes": _parse_int(1024, 100 * 1024 * 1024),
    "attachment_max_pixels": _parse_int(10_000, 200_000_000),
    "endings_poll_seconds": _parse_int(1, 600),
    "drain_grace_seconds": _parse_int(5, 600),
    "metrics_listen": _parse_listen,
    "metrics_token_file": _parse_token_file,
    "mongodb_pool_size": _parse_int(2, 500),
    "write_queue_max_wait_ms": _parse_int(1, 600_000),
    "write_batch_max": _parse_int(1, 10_000),
    "bookkeeping_interval_ms": _parse_int(100, 600_000),
    "outbox_worker": _parse_bool,
    "outbox_timeout_s": _parse_int(1, 60),
    "outbox_concurrency": _parse_int(1, 64),
    "outbox_poll_ms": _parse_int(50, 60_000),
    "outbox_retention_days": _parse_int(1, 90),
    "bot_timeout_s": _parse_int(1, 60),
    "smtp_host": _parse_str,
    "smtp_port": _parse_int(1, 65535),
    "smtp_tls": _parse_smtp_tls,
    "smtp_user": _parse_str,
    "smtp_password_file": lambda raw: Path(_parse_str(raw)),
    "smtp_from": _parse_email,
    "smtp_ca_file": lambda raw: Path(_parse_str(raw)),
    "limit_transcripts_per_hour": _parse_int(1, 1000),
    "waiting_notify_minutes": _parse_int(0, 10_080),
    "tracing_otlp_endpoint": _parse_url,
}


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, str | None] | None = None
) -> Settings:
    """Build settings from the environment, then flag overrides (raw strings, like env values)."""
    env = dict(os.environ if environ is None else environ)
    raw: dict[str, str] = {}
    for name, (env_name, _) in SETTINGS_DOC.items():
        if env.get(env_name) not in (None, ""):
            raw[name] = env[env_name]
    for name, value in (overrides or {}).items():
        if value is not None:
            raw[name] = value

    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, text in raw.items():
        try:
            values[name] = _PARSERS[name](text)
        except ValueError as exc:
            problems.append(f"{SETTINGS_DOC[name][0]}: {exc}")

    if "log_format" not in values:
        values["log_format"] = "console" if values.get("dev", False) else "json"
    problems.extend(_cross_checks(values))
    if problems:
        raise SettingsError(problems)
    return Settings(**values)


def _cross_checks(values: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    dev = bool(values.get("dev", False))
    if not dev and values.get("mongodb_uri") is None:
        problems.append(
            "MONGODB_URI: required outside dev mode (the embedded database is for development; "
            "set CHAT_DEV=true or pass --dev to use it)"
        )
    if not dev and values.get("master_key_file") is None and values.get("master_keys") is None:
        problems.append("CHAT_MASTER_KEY_FILE or CHAT_MASTER_KEYS: a master key is required outside dev mode")
    if not dev and values.get("hmac_keys_file") is None:
        problems.append("CHAT_HMAC_KEYS_FILE: an HMAC key file is required outside dev mode")
    if values.get("master_key_file") is not None and values.get("master_keys") is not None:
        problems.append("CHAT_MASTER_KEY_FILE and CHAT_MASTER_KEYS: set only one of them")
    if not dev and "*" in values.get("allowed_origins", ()):
        problems.append("CHAT_ALLOWED_ORIGINS: '*' is only allowed in dev mode")
    if values.get("smtp_host") is not None:
        if not dev and values.get("smtp_tls", "starttls") == "none":
            problems.append("CHAT_SMTP_TLS: none is only allowed in dev mode (e-mail is never sent in clear)")
        if values.get("smtp_from") is None:
            problems.append("CHAT_SMTP_FROM: required when CHAT_SMTP_HOST is set")
        if (values.get("smtp_user") is None) != (values.get("smtp_password_file") is None):
            problems.append("CHAT_SMTP_USER and CHAT_SMTP_PASSWORD_FILE: set both or neither")
    return problems
