"""`chat-retention plan|run|report`. Exit codes: 0 done, 1 some items failed, 2 bad configuration."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import write_to_textfile

from chat_service.app import load_hmac_keys, load_keys
from chat_service.cli import flag_overrides, open_cli_database
from chat_service.conversations import iso, utcnow
from chat_service.crypto import KeyRingError
from chat_service.errors import ChatError
from chat_service.logging import configure_logging
from chat_service.metrics import Metrics
from chat_service.settings import Settings, SettingsError, load_settings
from chat_service.storage.retention import Checkpoint, RunRecord
from retention.job import RetentionJob, plan
from retention.policies import PolicyError, PolicySet, load_policies

OK, FAILED_ITEMS, BAD_CONFIG = 0, 1, 2


def parse_now(raw: str) -> datetime:
    """ISO 8601 date or time; without a zone it is UTC."""
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not an ISO 8601 date or time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chat-retention", description="Apply the retention policies.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dev", action="store_const", const="true", help="development mode (embedded database)")
    common.add_argument("--data-dir", help="data folder (default ./var)")
    common.add_argument("--mongodb-uri", help="MongoDB connection string")
    common.add_argument("--policies", help="policy file (default: CHAT_RETENTION_POLICIES_FILE or the defaults)")
    common.add_argument("--json", action="store_true", help="print JSON instead of text")
    clock = argparse.ArgumentParser(add_help=False)
    clock.add_argument("--now", type=parse_now, help="evaluate policies at this time (tests, backfills)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("plan", parents=[common, clock], help="what a run would change, per policy (changes nothing)")
    run = sub.add_parser("run", parents=[common, clock], help="apply the policies")
    run.add_argument(
        "--metrics-file",
        help="write the run's counters here in the Prometheus text format (node_exporter's textfile collector)",
    )
    # Test hook: SIGKILL this process at the N-th pass of a named point inside a batch.
    run.add_argument("--kill-at", help=argparse.SUPPRESS)
    report = sub.add_parser("report", parents=[common], help="the last runs and what each did")
    report.add_argument("--limit", type=int, default=10)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides: dict[str, str | None] = {**flag_overrides(args), "retention_policies_file": args.policies}
    try:
        settings = load_settings(overrides=overrides)
        policies = load_policies(settings.retention_policies_file)
    except (SettingsError, PolicyError) as exc:
        print(exc, file=sys.stderr)
        return BAD_CONFIG
    configure_logging(settings.log_level, settings.log_format)
    now = getattr(args, "now", None) or utcnow()
    try:
        if args.command == "plan":
            return asyncio.run(_plan(settings, policies, now, as_json=args.json))
        if args.command == "report":
            return asyncio.run(_report(settings, args.limit, as_json=args.json))
        return asyncio.run(
            _run(
                settings,
                policies,
                now,
                as_json=args.json,
                checkpoint=_kill_at(args.kill_at),
                metrics_file=args.metrics_file,
            )
        )
    except KeyRingError as exc:
        print(f"chat-retention: {exc}", file=sys.stderr)
        return BAD_CONFIG
    except ChatError as exc:
        print(f"chat-retention: {exc.message}", file=sys.stderr)
        return FAILED_ITEMS


def _kill_at(spec: str | None) -> Checkpoint | None:
    if not spec:
        return None
    name, _, nth = spec.partition(":")
    remaining = [int(nth or "1")]

    def checkpoint(point: str) -> None:
        if point == name:
            remaining[0] -= 1
            if remaining[0] == 0:
                os.kill(os.getpid(), signal.SIGKILL)

    return checkpoint


def _emit(data: Any, text: str, as_json: bool) -> None:
    print(json.dumps(data, indent=2, default=str) if as_json else text)


async def _plan(settings: Settings, policies: PolicySet, now: datetime, *, as_json: bool) -> int:
    async with open_cli_database(settings) as db:
        lines = await plan(db, policies, now)
    data = {
        "now": iso(now),
        "policies_from": policies.source,
        "policies": [
            {**line.policy.to_dict(), "cutoff": iso(line.cutoff), "would_act_on": line.count} for line in lines
        ],
    }
    text = [f"plan at {iso(now)} (policies: {policies.source}); nothing was changed"]
    for line in lines:
        p = line.policy
        text.append(
            f"  {p.label:<24} {p.action:<12} {p.target:<13} last activity before {iso(line.cutoff)}: {line.count}"
        )
    _emit(data, "\n".join(text), as_json)
    return OK


async def _run(
    settings: Settings,
    policies: PolicySet,
    now: datetime,
    *,
    as_json: bool,
    checkpoint: Checkpoint | None,
    metrics_file: str | None = None,
) -> int:
    keys, hmac_keys = load_keys(settings), load_hmac_keys(settings)
    async with open_cli_database(settings) as db:
        await db.ensure_indexes()
        job = RetentionJob(
            db,
            keys,
            hmac_keys,
            settings.retention_batch_size,
            settings.retention_lease_seconds,
            key_rotation=timedelta(days=settings.key_rotation_days),
            shredding_window=timedelta(days=settings.shredding_window_days),
        )
        if checkpoint is not None:
            job.checkpoint = checkpoint
        run = await job.run(policies, now)
    _emit(_run_to_dict(run), _run_to_text(run), as_json)
    if metrics_file:
        write_to_textfile(metrics_file, run_metrics(run).registry)
    if run.status == "skipped":
        return OK
    return OK if run.status == "done" else FAILED_ITEMS


async def _report(settings: Settings, limit: int, *, as_json: bool) -> int:
    async with open_cli_database(settings) as db:
        runs = await db.retention.recent_runs(limit)
    text = "\n".join(_run_to_text(r) for r in runs) or "no retention runs yet"
    _emit([_run_to_dict(r) for r in runs], text, as_json)
    return OK


def run_metrics(run: RunRecord) -> Metrics:
    """`chat_retention_items_total` of one run: per policy and action, items done, failed, and
    selected but left alone (changed meanwhile, so a guarded write skipped them)."""
    metrics = Metrics()
    failed = Counter(f["policy"] for f in run.failures)
    for name, stats in run.policies.items():
        action = str(stats.get("action", ""))
        done, selected = int(stats.get("done", 0)), int(stats.get("selected", 0))
        failures = failed.pop(name, 0)
        items = metrics.retention_items
        items.labels(policy=name, action=action, outcome="done").inc(done)
        items.labels(policy=name, action=action, outcome="failed").inc(failures)
        items.labels(policy=name, action=action, outcome="skipped").inc(max(0, selected - done - failures))
    for name, count in failed.items():  # failures outside a policy's items (the key epochs)
        metrics.retention_items.labels(policy=name, action="keys", outcome="failed").inc(count)
    return metrics


def _run_to_dict(run: RunRecord) -> dict[str, Any]:
    return {
        "id": run.id,
        "status": run.status,
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "clock": iso(run.clock),
        "host": run.host,
        "policies": run.policies,
        "failures": run.failures,
        "keys": run.keys,
    }


def _run_to_text(run: RunRecord) -> str:
    lines = [f"run {run.id} {run.status} (clock {iso(run.clock)}, started {iso(run.started_at)}, host {run.host})"]
    for name, stats in run.policies.items():
        extra = " ".join(f"{k}={v}" for k, v in stats.items() if k.startswith("redacted_"))
        lines.append(f"  {name:<24} {stats['action']:<12} selected={stats['selected']} done={stats['done']} {extra}")
    if run.keys:
        k = run.keys
        destroyed = ",".join(k.get("destroyed") or []) or "-"
        skipped = f" skipped: {k['skipped']}" if k.get("skipped") else ""
        lines.append(
            f"  master keys: rotated_to={k.get('rotated_to')} rewrapped={k.get('rewrapped')} "
            f"destroyed={destroyed}{skipped}"
        )
    for failure in run.failures:
        lines.append(f"  FAILED {failure['policy']} {failure['conversation_id']}: {failure['reason']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
