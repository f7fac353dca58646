"""`chat-service privacy find|export|erase|breach-report`: data-subject requests from the shell."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from chat_service.app import load_hmac_keys, load_keys
from chat_service.conversations import iso, utcnow
from chat_service.crypto import KeyRingError, KeyRingSource, UnsafePath, write_private_file
from chat_service.errors import ChatError
from chat_service.models import Conversation
from chat_service.settings import Settings
from chat_service.storage import Database
from retention.cli import parse_now
from retention.policies import PolicyError, load_policies
from retention.subject import DataSubjectRequests, SubjectQuery

OpenDatabase = Callable[[Settings], AbstractAsyncContextManager[Database]]


def add_privacy_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    privacy = sub.add_parser("privacy", help="data-subject requests and breach reports")
    commands = privacy.add_subparsers(dest="privacy_command", required=True)
    who = argparse.ArgumentParser(add_help=False)
    target = who.add_mutually_exclusive_group(required=True)
    target.add_argument("--email", help="the person's e-mail address (looked up by its blind index)")
    target.add_argument("--conversation", help="a conversation id")
    actor = argparse.ArgumentParser(add_help=False)
    actor.add_argument("--actor", default="cli", help="who is acting, for the audit log (default: cli)")
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--output", "-o", help="write the JSON file here (mode 0600; default: stdout)")
    output.add_argument("--overwrite", action="store_true", help="replace an existing --output file (never a symlink)")
    commands.add_parser("find", parents=[common, who, actor], help="list a person's conversations")
    commands.add_parser("export", parents=[common, who, actor, output], help="export everything, decrypted (JSON)")
    erase = commands.add_parser("erase", parents=[common, who, actor], help="delete and crypto-shred, now")
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation (scripts)")
    breach = commands.add_parser(
        "breach-report", parents=[common, actor, output], help="who was stored or opened in a time window"
    )
    breach.add_argument("--from", dest="start", type=parse_now, required=True, help="window start (ISO 8601)")
    breach.add_argument("--to", dest="end", type=parse_now, required=True, help="window end (ISO 8601)")


def _refuse_output(path: str | None, overwrite: bool) -> str | None:
    """Why `path` cannot take the output, checked before any work (the write checks again)."""
    if path is None:
        return None
    target = Path(path)
    if target.is_symlink():
        return f"{path} is a symbolic link: refusing to write through it"
    if target.exists() and not overwrite:
        return f"{path} already exists: refusing to overwrite it (add --overwrite to replace it)"
    return None


def _write_json(data: dict[str, Any], path: str | None, *, overwrite: bool = False) -> None:
    """Personal data: a new file of mode 0600, never through a symlink, replaced only when asked."""
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if path is None:
        sys.stdout.write(text)
        return
    write_private_file(Path(path), text, replace=overwrite)
    print(f"written to {path}", file=sys.stderr)


def _describe(conversations: list[Conversation]) -> str:
    lines = [f"{len(conversations)} conversation(s)"]
    for c in conversations:
        state = f"pseudonymised by {c.pseudonymised_by}" if c.pseudonymised_by else "identifiable"
        lines.append(
            f"  {c.id}  created {iso(c.created_at)}  last activity {iso(c.last_activity_at)}  "
            f"{c.message_count} messages  {'offline' if c.offline else 'live'}  {state}"
        )
    return "\n".join(lines)


def erasure_completion(settings: Settings, keys: KeyRingSource, now: datetime | None = None) -> str:
    """When copies of the destroyed keys (oplog, journal, backups) become unreadable too."""
    if keys.path is None:
        return (
            "copies in the oplog and backups stay readable until the master key in CHAT_MASTER_KEYS is "
            "rotated and the old one removed (see README, key rotation)"
        )
    by = keys.current().erasure_complete_by(
        now or utcnow(),
        window=timedelta(days=settings.shredding_window_days),
        period=timedelta(days=settings.key_rotation_days),
    )
    return (
        f"erasure complete everywhere (oplog, database files, backups) by {by:%Y-%m-%d}: the master key that "
        "wrapped these keys is destroyed by then, provided `chat-retention run` runs daily"
    )


def _confirmed(count: int) -> bool:
    print(f"Erase {count} conversation(s) and destroy their keys? This cannot be undone. Type 'erase': ", end="")
    sys.stdout.flush()
    return sys.stdin.readline().strip() == "erase"


async def privacy_command(settings: Settings, args: argparse.Namespace, open_database: OpenDatabase) -> int:
    """Exit codes: 0 done, 1 refused or failed, 2 bad configuration."""
    try:
        policies = load_policies(settings.retention_policies_file)
        keys, hmac_keys = load_keys(settings), load_hmac_keys(settings)
    except (PolicyError, KeyRingError) as exc:
        print(f"chat-service privacy: {exc}", file=sys.stderr)
        return 2
    refused = _refuse_output(getattr(args, "output", None), getattr(args, "overwrite", False))
    if refused is not None:
        print(f"chat-service privacy: {refused}", file=sys.stderr)
        return 1
    try:
        async with open_database(settings) as db:
            await db.ensure_indexes()
            requests = DataSubjectRequests(db, keys, hmac_keys, policies)
            if args.privacy_command == "breach-report":
                report = await requests.breach_report(args.start, args.end, actor_id=args.actor)
                _write_json(report, args.output, overwrite=args.overwrite)
                return 0
            query = SubjectQuery(email=args.email, conversation_id=args.conversation)
            found = await requests.find(query, actor_id=args.actor)
            if args.privacy_command == "find":
                print(_describe(found))
                return 0
            if args.privacy_command == "export":
                _write_json(await requests.export(found, actor_id=args.actor), args.output, overwrite=args.overwrite)
                return 0
            print(_describe(found))
            if not found:
                return 0
            if not args.yes and not _confirmed(len(found)):
                print("not erased", file=sys.stderr)
                return 1
            erased = await requests.erase(found, actor_id=args.actor)
            print(f"erased {erased} conversation(s); their data keys are destroyed")
            print(erasure_completion(settings, keys))
            return 0
    except ChatError as exc:
        print(f"chat-service privacy: {exc.message}", file=sys.stderr)
        return 1
    except UnsafePath as exc:
        print(f"chat-service privacy: {exc}", file=sys.stderr)
        return 1
