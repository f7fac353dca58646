"""`chat-service`: run, check, users create, keys rotate, audit verify, privacy."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import shlex
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from aiohttp import web

from chat_service.accounts import MIN_PASSWORD, Accounts, check_password_strength
from chat_service.app import (
    EMBEDDED_URI_FILE,
    ResidencyRefused,
    check_residency,
    create_app,
    load_hmac_keys,
    load_keys,
    smtp_config,
)
from chat_service.audit import CLI_ACTOR, AuditLog
from chat_service.bots import BotRegistry
from chat_service.bots.admin import check_target
from chat_service.conversations import Conversations, utcnow
from chat_service.crypto import KeyRing, KeyRingError
from chat_service.drain import DRAIN
from chat_service.embedded import start_embedded
from chat_service.errors import ChatError, InvalidInput
from chat_service.logging import configure_logging, get_logger
from chat_service.mail import Mailer, MailRefused
from chat_service.settings import Settings, SettingsError, load_settings
from chat_service.sites import load_sites
from chat_service.storage import Database
from chat_service.storage.database import make_client, wait_until_ready
from chat_service.validation import EMAIL
from retention.policies import PolicyError

log = get_logger("chat_service.cli")


def _actor(raw: str) -> str:
    """An operator's name for the audit log: short, printable, not blank."""
    if not raw.strip() or len(raw) > 64 or not raw.isprintable():
        raise argparse.ArgumentTypeError("give 1 to 64 printable characters")
    return raw.strip()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chat-service", description="GDPR-first live chat server.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dev", action="store_const", const="true", help="development mode (embedded database)")
    common.add_argument("--data-dir", help="data folder (default ./var)")
    common.add_argument("--mongodb-uri", help="MongoDB connection string (default: embedded, dev only)")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", parents=[common], help="run the server")
    run.add_argument("--host")
    run.add_argument("--port")

    check_cmd = sub.add_parser("check", parents=[common], help="validate settings and database residency")
    check_cmd.add_argument(
        "--smtp-test", action="store_true", help="also connect to the SMTP server (TLS, login); sends nothing"
    )

    users = sub.add_parser("users", help="manage staff accounts").add_subparsers(dest="users_command", required=True)
    create = users.add_parser("create", parents=[common], help="create an agent or admin")
    create.add_argument("email")
    create.add_argument("--role", choices=["agent", "admin"], default="agent")
    create.add_argument("--name", help="display name shown to visitors")
    create.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    create.add_argument(
        "--actor", default=CLI_ACTOR, type=_actor, help="who is acting, for the audit log (default: cli)"
    )

    keys = sub.add_parser("keys", help="master key management").add_subparsers(dest="keys_command", required=True)
    rotate = keys.add_parser("rotate", parents=[common], help="add a new master key and re-wrap all data keys")
    rotate.add_argument("--rewrap-only", action="store_true", help="do not add a key; re-wrap under the active one")

    audit = sub.add_parser("audit", help="audit log").add_subparsers(dest="audit_command", required=True)
    audit.add_parser("verify", parents=[common], help="check the audit chain; exit 1 if it is broken")

    from retention.privacy_cli import add_privacy_parser

    add_privacy_parser(sub, common)
    return parser


def flag_overrides(args: argparse.Namespace) -> dict[str, str | None]:
    return {
        "dev": getattr(args, "dev", None),
        "data_dir": getattr(args, "data_dir", None),
        "mongodb_uri": getattr(args, "mongodb_uri", None),
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(overrides=flag_overrides(args))
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 1
    configure_logging(settings.log_level, settings.log_format)
    if args.command == "run":
        return run(settings)
    if args.command == "check":
        return asyncio.run(check(settings, smtp_test=args.smtp_test))
    if args.command == "users":
        return asyncio.run(create_user(settings, args))
    if args.command == "audit":
        return asyncio.run(verify_audit(settings))
    if args.command == "privacy":
        from retention.privacy_cli import privacy_command

        return asyncio.run(privacy_command(settings, args, open_cli_database))
    return asyncio.run(rotate_keys(settings, rewrap_only=args.rewrap_only))


def _cli_program() -> str:
    """How to call this program from the server's working directory."""
    script = Path(sys.executable).parent / "chat-service"
    if not script.exists():
        return f"{shlex.quote(sys.executable)} -m chat_service"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return shlex.quote(str(script))


def first_admin_command(settings: Settings) -> str:
    """`users create` with the flags in force, so it reaches this server's database and keys.

    The data folder is given as an absolute path: it holds the embedded database's address and the
    dev key files, and a relative one would name another folder from another directory.
    """
    parts = [_cli_program(), "users", "create", "you@example.eu", "--role", "admin"]
    if settings.dev:
        parts.append("--dev")
    parts += ["--data-dir", shlex.quote(str(settings.data_dir.resolve()))]
    if settings.mongodb_uri is not None:
        # A URI may carry a password: never print it; the shell fills it in from the environment.
        parts += ["--mongodb-uri", '"$MONGODB_URI"']
    env = []
    if settings.mongodb_database != Settings.mongodb_database:
        env.append(f"CHAT_MONGODB_DATABASE={shlex.quote(settings.mongodb_database)}")
    if settings.hmac_keys_file is not None:  # the audit key; in dev it is found in the data folder
        env.append(f"CHAT_HMAC_KEYS_FILE={shlex.quote(str(settings.hmac_keys_file.resolve()))}")
    return " ".join(env + parts)


def _banner(settings: Settings) -> None:
    base = settings.public_url or f"http://{settings.host}:{settings.port}"
    demo = f"  demo page (widget):    {base}/\n" if settings.dev else ""
    uri_note = "  (with MONGODB_URI set to this server's connection string)\n" if settings.mongodb_uri else ""
    print(
        f"chat-service is running at {base}\n"
        f"{demo}"
        f"  agent console:         {base}/console/\n"
        f"  health:                {base}/healthz  {base}/readyz\n"
        f"Create the first admin in another terminal (same data folder and database as this server):\n"
        f"  {first_admin_command(settings)}\n"
        f"{uri_note}"
        "(Press Ctrl+C to stop.)",
        flush=True,
    )


def run(settings: Settings) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        asyncio.run(serve(settings))
    except (ResidencyRefused, KeyRingError, PolicyError, ChatError) as exc:
        print(f"chat-service will not start: {exc}", file=sys.stderr)
        return 1
    return 0


async def serve(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT, then close sockets first so shutdown does not wait on them."""
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=3, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, settings.port).start()
        _banner(settings)
        drain = app[DRAIN]
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, drain.begin)
        await drain.started.wait()
        log.info("shutting_down")
        await drain.run(app)
    finally:
        await runner.cleanup()
        log.info("stopped")


@asynccontextmanager
async def open_cli_database(settings: Settings) -> AsyncIterator[Database]:
    """The configured database; in dev mode the running server's embedded one, or a fresh one."""
    embedded = None
    uri = settings.mongodb_uri
    if uri is None:
        uri_file = settings.data_dir / EMBEDDED_URI_FILE
        if uri_file.exists():
            uri = uri_file.read_text().strip()
            try:
                await wait_until_ready(uri, 2.0)
            except ChatError:
                uri = None
        if uri is None:
            embedded = await start_embedded(settings.data_dir)
            uri = embedded.uri
    db = Database(make_client(uri, settings.mongodb_timeout_ms), settings.mongodb_database)
    try:
        yield db
    finally:
        await db.close()
        if embedded is not None:
            await embedded.stop()


async def check(settings: Settings, *, smtp_test: bool = False) -> int:
    problems: list[str] = await check_smtp(settings, connect=smtp_test)
    try:
        source = load_keys(
            settings.replace(dev=False) if settings.master_keys or settings.master_key_file else settings
        )
        _warn_key_epochs(settings, source.current())
    except KeyRingError as exc:
        problems.append(f"master key: {exc}")
    try:
        load_hmac_keys(settings)
    except KeyRingError as exc:
        problems.append(f"HMAC keys: {exc}")
    try:
        async with open_cli_database(settings) as db:
            decision = await check_residency(db, settings)
            if decision.allowed:
                print(decision.summary())
            else:
                problems.extend(decision.problems)
            problems.extend(await check_bots(settings, db))
    except ChatError as exc:
        problems.append(f"database: {exc.message}")
    if problems:
        print("chat-service check found problems:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print("settings and database residency: OK")
    return 0


async def check_bots(settings: Settings, db: Database) -> list[str]:
    """Every site's bot (the database copy over the sites file's): external ones under the webhook rules."""
    registry = BotRegistry(db, {site.id: site.bot for site in load_sites(settings) if site.bot is not None})
    await registry.refresh(force=True)
    problems = []
    for site_id, bot in sorted(registry.all().items()):
        config = bot.config
        where = f" at {config.url} in {config.region}" if bot.external else ""
        print(f"bot of site {site_id}: {config.type} {config.name!r} v{config.version} ({bot.source}){where}")
        try:
            check_target(config, dev=settings.dev, allowed_regions=settings.allowed_regions)
        except InvalidInput as exc:
            problems.append(f"bot of site {site_id}: {exc.message}")
    return problems


PASSWORD_TRIES = 3


class NoPassword(Exception):
    """stdin ended (or was closed) before a password was given."""


def _password_from_stdin() -> str:
    line = sys.stdin.readline() if sys.stdin is not None and not sys.stdin.closed else ""
    if not line:
        raise NoPassword("no password on stdin: pipe one line to --password-stdin")
    password = line.rstrip("\r\n")
    check_password_strength(password)
    return password


def _password_from_terminal() -> str:
    """Say the rule first; ask again after a too-short or mismatched password, a few times."""
    print(f"Choose a password of at least {MIN_PASSWORD} characters.", file=sys.stderr, flush=True)
    for attempt in range(1, PASSWORD_TRIES + 1):
        try:
            if sys.stdin is None:  # started with stdin closed and no terminal to ask on
                raise EOFError
            first = getpass.getpass("Password: ")
            try:
                check_password_strength(first)
            except ChatError as exc:
                problem = exc.message
            else:
                if getpass.getpass("Repeat password: ") == first:
                    return first
                problem = "The passwords do not match."
        except EOFError:
            raise NoPassword(
                "no password: stdin is closed; run this in a terminal or pipe one line to --password-stdin"
            ) from None
        left = PASSWORD_TRIES - attempt
        print(f"{problem} {f'Try again ({left} left).' if left else ''}".rstrip(), file=sys.stderr, flush=True)
    raise InvalidInput(f"No usable password after {PASSWORD_TRIES} tries; nothing was created.")


def _warn_key_epochs(settings: Settings, ring: KeyRing) -> None:
    """Erasure reaches backups only once old master keys are destroyed: say when that is late."""
    window, period = timedelta(days=settings.shredding_window_days), timedelta(days=settings.key_rotation_days)
    for problem in ring.overdue(utcnow(), window, period):
        print(
            f"warning: {problem}; erased data stays readable from the oplog and backups until "
            "`chat-retention run` rotates and destroys it (CHAT_SHREDDING_WINDOW_DAYS)",
            file=sys.stderr,
        )


async def check_smtp(settings: Settings, *, connect: bool) -> list[str]:
    """SMTP settings: files readable and private; with `connect`, a real TLS session and login."""
    config = smtp_config(settings)
    if config is None:
        return ["smtp: --smtp-test needs CHAT_SMTP_HOST and CHAT_SMTP_FROM"] if connect else []
    problems = []
    for name, path in (("CHAT_SMTP_PASSWORD_FILE", config.password_file), ("CHAT_SMTP_CA_FILE", config.ca_file)):
        if path is not None and not path.is_file():
            problems.append(f"{name}: {path} is not a readable file")
    secret = config.password_file
    if secret is not None and secret.is_file() and secret.stat().st_mode & 0o077:
        problems.append(f"CHAT_SMTP_PASSWORD_FILE: {secret} must not be readable by others (chmod 600)")
    if connect and not problems:
        try:
            await Mailer(config).test_connection()
            print(f"smtp: connected to {config.host}:{config.port} with {config.tls}, nothing sent")
        except (MailRefused, OSError, TimeoutError) as exc:
            problems.append(f"smtp: {exc or type(exc).__name__}")
    return problems


async def create_user(settings: Settings, args: argparse.Namespace) -> int:
    if not EMAIL.fullmatch(args.email.strip().lower()):
        print("could not create the account: That is not an e-mail address.", file=sys.stderr)
        return 1
    try:
        password = _password_from_stdin() if args.password_stdin else _password_from_terminal()
        async with open_cli_database(settings) as db:
            await db.ensure_indexes()
            hmac_keys = load_hmac_keys(settings)
            audit = AuditLog(db, hmac_keys)
            accounts = Accounts(db, idle_minutes=settings.session_idle_minutes, audit=audit, hmac_keys=hmac_keys)
            user = await accounts.create_user(args.email, password, args.role, args.name)
            # As the console's "create user" is audited, so is the CLI's (the first admin included).
            await audit.record(
                args.actor,
                "user.created",
                target_type="user",
                target_id=user.id,
                details={"role": user.role, "via": "cli"},
            )
    except NoPassword as exc:
        print(f"could not create the account: {exc}", file=sys.stderr)
        return 2
    except KeyRingError as exc:
        print(f"could not create the account: {exc}", file=sys.stderr)
        return 1
    except ChatError as exc:
        print(f"could not create the account: {exc.message}", file=sys.stderr)
        return 1
    print(f"created {user.role} {user.email} ({user.id})")
    return 0


async def rotate_keys(settings: Settings, *, rewrap_only: bool) -> int:
    try:
        source = load_keys(settings)
    except KeyRingError as exc:
        print(f"cannot rotate: {exc}", file=sys.stderr)
        return 1
    ring = source.current()
    path: Path | None = settings.effective_master_key_file
    if not rewrap_only:
        if path is None or settings.master_keys is not None:
            print(
                "cannot add a key to CHAT_MASTER_KEYS: append a new id:key to it, restart the servers, "
                "then run `chat-service keys rotate --rewrap-only`",
                file=sys.stderr,
            )
            return 1
        ring = ring.with_new_key(utcnow())
        ring.save(path)
        print(f"added master key {ring.active_id} to {path} (old keys stay until nothing uses them)")
    try:
        async with open_cli_database(settings) as db:
            conversations = Conversations(db, source, resume_days=settings.resume_token_days)
            count = await conversations.rewrap_all()
            remaining = await db.data_keys.count_by_master_key()
    except ChatError as exc:
        print(f"re-wrapping failed: {exc.message}", file=sys.stderr)
        return 1
    print(f"re-wrapped {count} data keys under {source.current().active_id}; data keys per master key: {remaining}")
    return 0


async def verify_audit(settings: Settings) -> int:
    try:
        keys = load_hmac_keys(settings)
        async with open_cli_database(settings) as db:
            report = await AuditLog(db, keys).verify()
    except (KeyRingError, ChatError) as exc:
        print(f"cannot verify the audit log: {exc}", file=sys.stderr)
        return 2
    if report.intact:
        print(f"audit chain intact: {report.checked} events")
        return 0
    print(f"audit chain BROKEN ({report.checked} events checked):", file=sys.stderr)
    for problem in report.problems:
        print(f"  - {problem}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
