"""Retention throughput: seed N conversations x 10 messages, then time `chat-retention run`.

    PYTHONPATH=. .venv/bin/python bench/retention_bench.py --sizes 10000 30000

For each size a fresh SecantusDB is started, conversations are sealed with the real crypto and
bulk-loaded in the server's document format, then `python -m retention run` is timed twice as a
child process: once with a clock where every conversation is due for pseudonymisation (each is
re-keyed under a new data key), once ten days later where nothing is due but the master key is
(the key-epoch step re-wraps every data key), once where every conversation is due for deletion.
Reported per phase: conversations/s, the job's peak RSS (ru_maxrss) and CPU seconds, and
SecantusDB's CPU seconds (from /proc/<pid>/stat). `--profile DIR` records each phase of the job
and of SecantusDB with py-spy (in the `dev` extra) into DIR.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chat_service.conversations import new_conversation_id, new_message_id
from chat_service.crypto import FieldRef, HmacKeys, KeyRing, hash_token
from chat_service.embedded import start_embedded
from chat_service.models import Conversation, Message
from chat_service.storage import open_database

MESSAGES = 10
SEEDED_AT = datetime(2026, 1, 1, tzinfo=UTC)
PII_TEXTS = [
    "Mijn nummer is 06-{n:08d}, bel me gerust",
    "Stuur het naar klant{n}@voorbeeld.nl aub",
    "Terugstorten op NL91ABNA0417164300 graag",
]
PLAIN_TEXTS = [
    "Hallo, ik heb een vraag over mijn bestelling",
    "Wanneer wordt het pakket bezorgd?",
    "Dank u wel voor de snelle reactie",
    "Kan ik het artikel nog ruilen voor een andere maat?",
    "Prima, dan wacht ik het af",
    "Fijne dag verder!",
    "Ja, dat klopt",
]


@dataclass
class Phase:
    name: str
    conversations: int
    wall_s: float
    job_cpu_s: float
    job_maxrss_mb: float
    db_cpu_s: float

    @property
    def rate(self) -> float:
        return self.conversations / self.wall_s if self.wall_s else 0.0


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def seal_conversation(ring: KeyRing, hmac_keys: HmacKeys, n: int, at: datetime, pii_every: int) -> tuple:  # type: ignore[type-arg]
    conversation_id = new_conversation_id()
    key, wrapped = ring.new_data_key(conversation_id)
    plain = {
        "name": f"Klant Nummer{n}",
        "email": f"klant{n}@voorbeeld.nl",
        "ip": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Bench/1.0",
        "page_url": f"https://shop.example.eu/p/{n}?utm_source=bench",
        "language": "nl",
    }
    visitor = {k: key.encrypt(FieldRef("conversations", conversation_id, f"visitor.{k}"), v) for k, v in plain.items()}
    first = at - timedelta(minutes=MESSAGES)
    conv = Conversation(
        id=conversation_id,
        status="closed",
        created_at=first,
        last_activity_at=at,
        resume_token_hash=hash_token(secrets.token_hex(8)),
        resume_expires_at=first + timedelta(days=30),
        message_count=MESSAGES,
        closed_at=at,
        visitor=visitor,
        email_index=hmac_keys.blind_index(plain["email"]),
    )
    messages = []
    for i in range(MESSAGES):
        if pii_every and i % pii_every == 0:
            text = PII_TEXTS[(i // pii_every) % len(PII_TEXTS)].format(n=n)
        else:
            text = PLAIN_TEXTS[i % len(PLAIN_TEXTS)]
        message_id = new_message_id()
        messages.append(
            Message(
                id=message_id,
                conversation_id=conversation_id,
                sender="visitor" if i % 2 == 0 else "agent",
                client_id=f"c{i}",
                created_at=first + timedelta(minutes=i),
                text=key.encrypt(FieldRef("messages", message_id, "text"), text),
                text_length=len(text),
                agent_id=None if i % 2 == 0 else "u-bench",
            )
        )
    return (conversation_id, wrapped, first), conv, messages


async def seed(uri: str, database: str, ring: KeyRing, hmac_keys: HmacKeys, n: int, pii_every: int) -> float:
    started = time.perf_counter()
    async with open_database(uri, database, 30_000) as db:
        await db.ensure_indexes()
        chunk = 1000
        for offset in range(0, n, chunk):
            sealed = [
                seal_conversation(ring, hmac_keys, i, SEEDED_AT - timedelta(seconds=i), pii_every)
                for i in range(offset, min(n, offset + chunk))
            ]
            await db.bulk.insert([s[0] for s in sealed], [s[1] for s in sealed], [m for s in sealed for m in s[2]])
    return time.perf_counter() - started


def run_job(
    env: dict[str, str],
    now: datetime,
    db_pid: int,
    name: str,
    expected: int,
    marker: str = "done",
    profile: Path | None = None,
) -> Phase:
    db_before = proc_cpu_seconds(db_pid)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "retention", "run", "--now", now.isoformat()],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    spies = []
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
        for who, pid in (("job", proc.pid), ("db", db_pid)):
            out_file = profile / f"{name}-{who}.txt"
            spies.append(
                subprocess.Popen(
                    [
                        str(Path(sys.executable).parent / "py-spy"),
                        "record",
                        "--pid",
                        str(pid),
                        "--format",
                        "raw",
                        "--rate",
                        "50",
                        "-o",
                        str(out_file),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
    _, status, usage = os.wait4(proc.pid, 0)
    for spy in spies:
        if spy.poll() is None:
            spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)
    wall = time.perf_counter() - started
    out = proc.stdout.read() if proc.stdout else ""
    err = proc.stderr.read() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{name} failed:\n{out}\n{err[-3000:]}")
    print(out.strip())
    if f"{marker}={expected}" not in out:
        print(f"  warning: expected {expected} conversations done", file=sys.stderr)
    return Phase(
        name,
        expected,
        wall,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024,
        proc_cpu_seconds(db_pid) - db_before,
    )


async def bench_size(
    n: int, pii_every: int, batch: int, workdir: Path, profile: Path | None
) -> tuple[float, list[Phase]]:
    data_dir = workdir / f"n{n}"
    data_dir.mkdir(parents=True)
    # The master key is a day old when the pseudonymisation runs: its rotation is measured apart.
    ring = KeyRing.generate(SEEDED_AT + timedelta(days=59))
    ring.save(data_dir / "master.keys")
    hmac_keys, _ = HmacKeys.load(data_dir / "hmac.keys", create=True)
    embedded = await start_embedded(data_dir)
    try:
        database = "bench"
        seed_s = await seed(embedded.uri, database, ring, hmac_keys, n, pii_every)
        print(f"seeded {n} conversations x {MESSAGES} messages in {seed_s:.1f} s ({n / seed_s:.0f} conv/s)")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CHAT_")},
            "MONGODB_URI": embedded.uri,
            "CHAT_MONGODB_DATABASE": database,
            "CHAT_MASTER_KEY_FILE": str(data_dir / "master.keys"),
            "CHAT_HMAC_KEYS_FILE": str(data_dir / "hmac.keys"),
            "CHAT_RETENTION_BATCH_SIZE": str(batch),
            "CHAT_LOG_LEVEL": "WARNING",
            "CHAT_MONGODB_TIMEOUT_MS": "60000",
        }
        pid = embedded.process.pid
        prof = None if profile is None else profile / f"n{n}"
        phases = [
            run_job(env, SEEDED_AT + timedelta(days=60), pid, "pseudonymise", n, profile=prof),
            run_job(env, SEEDED_AT + timedelta(days=70), pid, "rotate-keys", n, "rewrapped", prof),
            run_job(env, SEEDED_AT + timedelta(days=400), pid, "delete", n, profile=prof),
        ]
        return seed_s, phases
    finally:
        await embedded.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--pii-every", type=int, default=3, help="every k-th message carries personal data (0: none)")
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--profile", type=Path, help="record py-spy profiles of every phase into this folder")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="retention-bench-") as tmp:
        for n in args.sizes:
            seed_s, phases = asyncio.run(bench_size(n, args.pii_every, args.batch, Path(tmp), args.profile))
            rows.extend((n, seed_s, p) for p in phases)
    print(f"\nbatch={args.batch}, personal data in every {args.pii_every}th message, {MESSAGES} messages each")
    print(
        f"{'N':>8} {'phase':<13} {'conv/s':>8} {'msg/s':>8} {'wall s':>8} "
        f"{'job CPU s':>10} {'job RSS MB':>11} {'DB CPU s':>9}"
    )
    for n, _, p in rows:
        print(
            f"{n:>8} {p.name:<13} {p.rate:>8.0f} {p.rate * MESSAGES:>8.0f} {p.wall_s:>8.1f} "
            f"{p.job_cpu_s:>10.1f} {p.job_maxrss_mb:>11.0f} {p.db_cpu_s:>9.1f}"
        )


if __name__ == "__main__":
    main()
