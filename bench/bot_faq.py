"""FAQ ranking cost of the built-in bot: building the BM25 index and deciding one visitor message.

    .venv/bin/python bench/bot_faq.py --entries 200 --queries 2000

Prints index build time and p50/p99 of `decide` (BM25 via bm25s, typo correction, trigrams) for a
synthetic FAQ of `--entries` entries in English and Dutch. Runs on the event loop's thread in the
server (a turn is in the background, never on the visitor's ack), so this is the time a turn holds it.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from chat_service.bots.builtin import decide
from chat_service.bots.config import SiteBot
from chat_service.schemas import validate
from chat_service.schemas.bots import BotConfigBody

WORDS = [
    "order",
    "delivery",
    "shipping",
    "return",
    "refund",
    "invoice",
    "payment",
    "card",
    "account",
    "password",
    "parcel",
    "address",
    "store",
    "opening",
    "hours",
    "warranty",
    "repair",
    "size",
    "colour",
    "stock",
    "discount",
    "voucher",
    "newsletter",
    "privacy",
    "cookie",
    "bestelling",
    "levering",
    "verzending",
    "retour",
    "terugbetaling",
    "factuur",
    "betaling",
    "account",
    "wachtwoord",
    "pakket",
    "adres",
    "winkel",
    "openingstijden",
    "garantie",
    "reparatie",
    "maat",
    "kleur",
    "voorraad",
    "korting",
    "nieuwsbrief",
]


def faq(entries: int, rnd: random.Random) -> list[dict[str, object]]:
    out = []
    for i in range(entries):
        en = " ".join(rnd.sample(WORDS[:23], 4)) + f" topic{i}"
        nl = " ".join(rnd.sample(WORDS[23:], 4)) + f" onderwerp{i}"
        out.append({"question": {"en": en, "nl": nl}, "answer": {"en": f"answer {i}", "nl": f"antwoord {i}"}})
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=200)
    parser.add_argument("--queries", type=int, default=2000)
    args = parser.parse_args()
    rnd = random.Random(7)
    config = validate(BotConfigBody, {"name": "Bench", "faq": faq(args.entries, rnd)})
    started = time.perf_counter()
    bot = SiteBot.build("bench", config, "file")
    build_ms = (time.perf_counter() - started) * 1000
    queries = [" ".join(rnd.sample(WORDS, rnd.randint(1, 5))) for _ in range(args.queries)]
    timings = []
    decisions: dict[str, int] = {}
    for query in queries:
        t0 = time.perf_counter()
        turn = decide(bot, query, None)
        timings.append((time.perf_counter() - t0) * 1000)
        decisions[turn.decision] = decisions.get(turn.decision, 0) + 1
    timings.sort()
    p99 = timings[int(len(timings) * 0.99) - 1]
    print(f"entries={args.entries} queries={args.queries} index_build_ms={build_ms:.1f}")
    print(f"decide_ms p50={statistics.median(timings):.3f} p99={p99:.3f} max={timings[-1]:.3f} decisions={decisions}")


if __name__ == "__main__":
    main()
