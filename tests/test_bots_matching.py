"""The built-in bot's decisions without a server: FAQ ranking (en, nl, typos, near misses), office
hours across DST changes, "talk to a person" phrasings, and the sites file's bot table."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from chat_service.bots import BotClient, BotFailed
from chat_service.bots.admin import check_target
from chat_service.bots.builtin import decide
from chat_service.bots.config import SiteBot
from chat_service.bots.hours import OfficeHours
from chat_service.bots.texts import asks_for_person
from chat_service.errors import InvalidInput
from chat_service.schemas import validate
from chat_service.schemas.bots import BotConfigBody, OfficeHoursBody
from chat_service.sites import SitesError, parse_sites
from tests.bot_fixtures import HOURS, builtin_config

BOT = SiteBot.build("shop", validate(BotConfigBody, builtin_config()), "file")

# (visitor text, language or None, expected decision, expected entry first in the ranking or None)
RANKING_TABLE = [
    # English, as asked and shorter
    ("What are your opening hours?", "en", "answer", 0),
    ("opening hours", None, "answer", 0),
    ("how much is shipping", "en", "answer", 1),
    ("Which payment methods do you accept", None, "answer", 4),
    ("how can I track my parcel", None, "answer", 5),
    ("delivery", None, "answer", 3),  # one word of one entry, far ahead of the rest
    # Dutch
    ("Wat zijn jullie openingstijden?", "nl", "answer", 0),
    ("wat kost verzending", None, "answer", 1),
    ("bestelling retourneren", None, "answer", 2),
    ("welke betaalmethodes", None, "answer", 4),
    ("verzendkosten", None, "answer", 1),  # a compound: its trigrams meet "verzending" and "kost"
    # typos
    ("openign hours", None, "answer", 0),
    ("how do I retrun an ordr", None, "answer", 2),
    ("shiping cost", None, "answer", 1),
    ("openingstijdne", None, "answer", 0),
    ("betaalmetodes", None, "answer", 4),
    # near misses: related words, no clear single entry -> buttons
    ("order", None, "suggest", None),
    ("bestelling", None, "suggest", None),
    ("Where is my order?", None, "suggest", None),
    ("how long", None, "suggest", None),
    # nothing to do with the FAQ
    ("Do you sell gift vouchers?", None, "miss", None),
    ("xyzzy plugh", None, "miss", None),
    ("refund", None, "miss", None),
    ("when are you open", None, "miss", None),  # a near miss below the suggestion threshold
]


@pytest.mark.parametrize(("text", "language", "decision", "top"), RANKING_TABLE)
def test_faq_ranking_table(text: str, language: str | None, decision: str, top: int | None) -> None:
    turn = decide(BOT, text, language)
    assert turn.decision == decision, [(r.index, r.confidence) for r in turn.ranking[:3]]
    if top is not None:
        assert turn.ranking[0].index == top


def test_an_answer_is_in_the_visitors_language_or_else_the_matched_one() -> None:
    assert decide(BOT, "openingstijden", None).messages[0].text.startswith("Maandag")
    assert decide(BOT, "opening hours", None).messages[0].text.startswith("Monday")
    assert decide(BOT, "opening hours", "nl").messages[0].text.startswith("Maandag")


def test_unsure_offers_the_top_questions_as_buttons_whose_payload_is_the_question() -> None:
    turn = decide(BOT, "order", "en")
    buttons = turn.messages[0].buttons
    assert 2 <= len(buttons) <= 3
    questions = {e["question"]["en"] for e in builtin_config()["faq"]}
    assert all(b["payload"] == b["title"] and b["title"] in questions for b in buttons)
    # clicking a button sends its payload, which the bot then answers outright
    assert decide(BOT, buttons[0]["payload"], "en").decision == "answer"


@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("person", True),
        ("Talk to a person please", True),
        ("I want to speak to a human", True),
        ("medewerker", True),
        ("Ik wil graag een medewerker", True),
        ("mens!", True),
        ("my person is late", False),
        ("what are the opening hours", False),
    ],
)
def test_asking_for_a_person(text: str, asks: bool) -> None:
    assert asks_for_person(text) is asks
    if asks:
        assert decide(BOT, text, None).decision == "handover"


def _hours() -> OfficeHours:
    return OfficeHours.from_body(validate(OfficeHoursBody, HOURS))


@pytest.mark.parametrize(
    ("instant", "open_"),
    [
        # Autumn: CEST (UTC+2) until Sunday 2026-10-25 03:00, then CET (UTC+1).
        ("2026-10-23T06:30:00Z", False),  # Friday 08:30 CEST
        ("2026-10-23T07:30:00Z", True),  # Friday 09:30 CEST
        ("2026-10-23T14:59:00Z", True),  # Friday 16:59 CEST
        ("2026-10-23T15:00:00Z", False),  # Friday 17:00 CEST
        ("2026-10-26T07:30:00Z", False),  # Monday 08:30 CET: the same UTC time was open on Friday
        ("2026-10-26T08:00:00Z", True),  # Monday 09:00 CET
        ("2026-10-26T15:30:00Z", True),  # Monday 16:30 CET: the same UTC time was closed on Friday
        ("2026-10-26T16:00:00Z", False),  # Monday 17:00 CET
        ("2026-10-25T08:30:00Z", False),  # Sunday 09:30 CET, the day of the change
        ("2026-10-25T09:30:00Z", True),  # Sunday 10:30 CET
        # Spring: CET until Sunday 2026-03-29 02:00, then CEST.
        ("2026-03-22T09:30:00Z", True),  # Sunday 10:30 CET
        ("2026-03-29T08:30:00Z", True),  # Sunday 10:30 CEST (the same UTC time is 09:30 CET a week before)
        ("2026-03-22T08:30:00Z", False),  # Sunday 09:30 CET
        ("2026-03-29T10:00:00Z", False),  # Sunday 12:00 CEST
        ("2026-03-28T10:00:00Z", False),  # Saturday: not in the schedule
        ("2026-12-25T10:00:00Z", False),  # Friday, a holiday
        ("2026-12-24T10:00:00Z", True),  # Thursday before it
    ],
)
def test_office_hours_across_dst_changes_in_amsterdam(instant: str, open_: bool) -> None:
    assert _hours().is_open(datetime.fromisoformat(instant.replace("Z", "+00:00")).astimezone(UTC)) is open_


def test_a_bot_without_hours_is_always_within_them() -> None:
    assert BOT.within_hours(datetime(2026, 12, 25, 3, tzinfo=UTC))


def test_the_sites_file_bot_table_is_validated_naming_each_problem() -> None:
    good = parse_sites({"sites": {"shop": {"origins": [], "bot": builtin_config(hours=HOURS)}}})
    site = good.get("shop")
    assert site is not None and site.bot is not None and site.bot.name == "Shopbot"
    bad = builtin_config(max_misses=0, hours={**HOURS, "timezone": "Mars/Olympus"}, colour="red")
    bad["faq"] = [{"question": {}, "answer": {"en": "x"}}]
    with pytest.raises(SitesError) as caught:
        parse_sites({"sites": {"shop": {"bot": bad}}}, Path("sites.toml"))
    text = "\n".join(caught.value.problems)
    for where in (
        "sites.shop.bot.max_misses",
        "sites.shop.bot.hours.timezone",
        "sites.shop.bot.colour",
        "sites.shop.bot.faq.0.question",
    ):
        assert where in text
    with pytest.raises(SitesError, match="url"):
        parse_sites({"sites": {"shop": {"bot": {"type": "rasa", "name": "R"}}}})
    with pytest.raises(SitesError, match=r"hours\.weekly\.mon\.0"):
        parse_sites({"sites": {"shop": {"bot": builtin_config(hours={**HOURS, "weekly": {"mon": ["17:00-09:00"]}})}}})


@pytest.mark.parametrize(
    ("url", "region", "problem"),
    [
        ("http://bot.example.eu/webhooks/rest/webhook", "eu-central-1", "https"),
        ("https://127.0.0.1/webhooks/rest/webhook", "eu-central-1", "private"),
        ("https://[::1]/x", "eu-central-1", "private"),
        ("https://169.254.169.254/latest", "eu-central-1", "private"),
        ("https://bot.example.com/x", "us-east-1", "region"),
    ],
)
def test_outside_dev_external_bots_need_https_an_eu_region_and_a_public_address(
    url: str, region: str, problem: str
) -> None:
    config = validate(BotConfigBody, {"type": "rasa", "name": "R", "url": url, "region": region})
    with pytest.raises(InvalidInput, match=problem):
        check_target(config, dev=False, allowed_regions=["EU_CENTRAL_1"])
    if "[" not in url:  # (IPv6 loopback counts as reserved: refused even in dev)
        check_target(config, dev=True, allowed_regions=["EU_CENTRAL_1"])  # dev: local bots allowed


async def test_a_bot_on_a_loopback_address_is_refused_at_connection_time_outside_dev() -> None:
    client = BotClient(dev=False)
    try:
        with pytest.raises(BotFailed, match="refused target"):
            await client.post_json("https://127.0.0.1:9/webhooks/rest/webhook", {"sender": "x", "message": "hi"})
        with pytest.raises(BotFailed, match="refused target"):
            await client.post_json("https://localhost:9/webhooks/rest/webhook", {"sender": "x", "message": "hi"})
    finally:
        await client.close()
