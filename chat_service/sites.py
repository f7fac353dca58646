"""Per-site widget configuration: which origins may embed the widget, and the privacy notice.

Sites come from a TOML or JSON file named by `CHAT_SITES_FILE`; in dev mode without one, a
`demo` site with the default notice is used. The format, in TOML:

    [sites.shop]
    origins = ["https://shop.example.eu"]
    notice_version = "2025-01"
    [sites.shop.notice.en]
    text = "We store your messages to answer you."
    link = "https://shop.example.eu/privacy"
    [sites.shop.notice.nl]
    link = "https://shop.example.eu/nl/privacy"   # text falls back to the default

A site may add `team_email = "team@shop.example.eu"`: offline messages are e-mailed there (when
SMTP is configured), `sender_email = "chat@shop.example.eu"`: the site's e-mail to visitors
(agents' answers, transcripts) comes from it (else from `CHAT_SMTP_FROM`), and a
`[sites.shop.bot]` table: the site's bot (keys in docs/protocol.md, "Bots"; validated by
`chat_service.schemas.bots.BotConfigBody`). Its look in the widget (team name, logo, greeting,
theme, agents' names) is described in `chat_service/branding.py`.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from chat_service.branding import KEYS as BRANDING_KEYS
from chat_service.branding import Branding, parse_branding
from chat_service.schemas.bots import BotConfigBody, bot_config_problems
from chat_service.validation import NOTICE_VERSION, SITE_ID

if TYPE_CHECKING:  # settings validates the sites file, so it imports us
    from chat_service.settings import Settings

LANGUAGES = ("en", "nl")
DEV_SITE = "demo"
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+")
_LINK = re.compile(r"https?://\S{1,2000}")
MAX_NOTICE = 2000
_EMAIL = re.compile(r"[^@\s<>\",;]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}")

DEFAULT_NOTICE = {
    "en": (
        "Nothing is stored until you send a message. We keep your messages, encrypted, to answer you. "
        "This browser then remembers the chat until you choose “End chat and forget this device”."
    ),
    "nl": (
        "Er wordt niets opgeslagen totdat je een bericht stuurt. We bewaren je berichten versleuteld om je "
        "te antwoorden. Deze browser onthoudt de chat daarna tot je kiest voor „Chat beëindigen en dit "
        "apparaat vergeten”."
    ),
}


class SitesError(Exception):
    """The sites file is missing, unreadable or not valid; names every problem at once."""

    def __init__(self, path: Path | None, problems: list[str]):
        self.problems = problems
        where = f" in {path}" if path else ""
        super().__init__(f"Invalid sites configuration{where}:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class Notice:
    text: str
    link: str | None


@dataclass(frozen=True)
class Site:
    id: str
    origins: frozenset[str]
    notice_version: str
    notices: Mapping[str, Notice]
    team_email: str | None = None  # offline messages are forwarded here (when SMTP is configured)
    bot: BotConfigBody | None = None  # the site's bot as the sites file sets it (admins may override it)
    sender_email: str | None = None  # From of the site's e-mail (else CHAT_SMTP_FROM)
    branding: Branding = field(default_factory=Branding)

    def greeting(self, language: str | None) -> str | None:
        """The site's greeting in `language` (a bot without a greeting of its own says this one)."""
        return self.branding.greeting(language)

    def notice(self, language: str | None) -> Notice:
        return self.notices.get(language or "en") or self.notices["en"]

    def allows_origin(self, origin: str | None, own: Collection[str] = ()) -> bool:
        """Browsers send Origin on cross-origin requests; none (or our own) means not cross-origin."""
        return origin is None or origin in own or origin in self.origins


class Sites:
    """All configured sites, by id."""

    def __init__(self, sites: Mapping[str, Site]):
        self._sites = dict(sites)

    def get(self, site_id: str | None) -> Site | None:
        return self._sites.get(site_id) if site_id else None

    def __iter__(self) -> Any:
        return iter(self._sites.values())

    def __len__(self) -> int:
        return len(self._sites)

    def allows(self, site_id: object, origin: str | None, own: Collection[str] = ()) -> bool:
        """A known site that lets `origin` embed the widget."""
        site = self.get(site_id) if isinstance(site_id, str) else None
        return site is not None and site.allows_origin(origin, own)

    def origins(self) -> frozenset[str]:
        return frozenset(origin for site in self._sites.values() for origin in site.origins)


SITES = web.AppKey("sites", Sites)


def own_origins(request: web.Request | None, public_url: str | None) -> frozenset[str]:
    """The origins this server answers on: the one the request reached, and the public URL's."""
    origins = set()
    if request is not None:
        origins.add(f"{request.scheme}://{request.host}")
    if public_url:
        scheme, _, rest = public_url.partition("://")
        origins.add(f"{scheme}://{rest.split('/', 1)[0]}")
    return frozenset(origins)


# The dev demo site is a bakery (chat_service/web/demo.py draws its website).
DEMO_DIR = Path(__file__).parent / "web"
DEMO_BRANDING: dict[str, object] = {
    "team_name": "Bakkerij De Korenbloem",
    "logo": "demo-logo.png",
    "greeting": {
        "en": "Hello! Questions about an order, allergens or a cake for a party? Ask us here.",
        "nl": "Hallo! Vragen over een bestelling, allergenen of een taart voor een feestje? Stel ze hier.",
    },
    "theme": {"color": "#9a3412", "launcher": {"en": "Questions?", "nl": "Vragen?"}},
}


def dev_sites(settings: Settings) -> Sites:
    origins = frozenset(o for o in settings.allowed_origins if o != "*")
    notices = {lang: Notice(DEFAULT_NOTICE[lang], None) for lang in LANGUAGES}
    problems: list[str] = []
    branding = parse_branding(DEV_SITE, DEMO_BRANDING, DEMO_DIR, problems)
    if problems:  # e.g. the demo logo was left out of an install: the demo goes on without it
        branding = parse_branding(DEV_SITE, {k: v for k, v in DEMO_BRANDING.items() if k != "logo"}, None, [])
    return Sites({DEV_SITE: Site(DEV_SITE, origins, "1", notices, branding=branding)})


def load_sites(settings: Settings) -> Sites:
    """The sites for these settings: the file's, the dev default, or none (the widget is then off)."""
    if settings.sites_file is None:
        return dev_sites(settings) if settings.dev else Sites({})
    return read_sites_file(settings.sites_file)


def read_sites_file(path: Path) -> Sites:
    try:
        raw = path.read_bytes()
        data = json.loads(raw) if path.suffix.lower() == ".json" else tomllib.loads(raw.decode("utf-8"))
    except OSError as exc:
        raise SitesError(path, [f"cannot read the file: {exc.strerror or exc}"]) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise SitesError(path, [f"not valid {'JSON' if path.suffix.lower() == '.json' else 'TOML'}: {exc}"]) from None
    return parse_sites(data, path)


def parse_sites(data: object, path: Path | None = None) -> Sites:
    problems: list[str] = []
    if not isinstance(data, dict) or set(data) != {"sites"} or not isinstance(data["sites"], dict):
        raise SitesError(path, ["expected one top-level table, `sites`, with one table per site id"])
    sites: dict[str, Site] = {}
    for site_id, entry in data["sites"].items():
        site = _parse_site(str(site_id), entry, problems, path.parent if path else None)
        if site is not None:
            sites[site.id] = site
    if problems:
        raise SitesError(path, problems)
    return Sites(sites)


def _parse_site(site_id: str, entry: object, problems: list[str], base: Path | None = None) -> Site | None:
    where = f"sites.{site_id}"
    before = len(problems)
    if not SITE_ID.fullmatch(site_id):
        problems.append(f"{where}: a site id uses letters, digits, '_' and '-' only (1-64)")
    if not isinstance(entry, dict):
        problems.append(f"{where}: expected a table")
        return None
    unknown = sorted(
        set(entry) - {"origins", "notice_version", "notice", "team_email", "bot", "sender_email"} - BRANDING_KEYS
    )
    if unknown:
        problems.append(f"{where}: unknown key(s) {', '.join(unknown)}")
    origins = entry.get("origins", [])
    if not isinstance(origins, list) or not all(isinstance(o, str) and _ORIGIN.fullmatch(o) for o in origins):
        problems.append(f'{where}.origins: a list of origins like "https://www.example.eu" (no path)')
        origins = []
    version = entry.get("notice_version", "1")
    if not isinstance(version, str) or not NOTICE_VERSION.fullmatch(version):
        problems.append(f"{where}.notice_version: letters, digits, '.', '_' and '-' only (1-32)")
    notices = _parse_notices(where, entry.get("notice", {}), problems)
    team_email = entry.get("team_email")
    if team_email is not None and not (isinstance(team_email, str) and _EMAIL.fullmatch(team_email)):
        problems.append(f"{where}.team_email: an e-mail address like team@example.eu")
    bot = None
    if entry.get("bot") is not None:
        bot, bot_problems = bot_config_problems(entry["bot"])
        problems.extend(f"{where}.bot.{p}" for p in bot_problems)
    sender_email = entry.get("sender_email")
    if sender_email is not None and not (isinstance(sender_email, str) and _EMAIL.fullmatch(sender_email)):
        problems.append(f"{where}.sender_email: an e-mail address like chat@example.eu")
    branding = parse_branding(where, entry, base, problems)
    if len(problems) > before:
        return None
    return Site(
        site_id,
        frozenset(origins),
        str(version),
        notices,
        team_email=team_email,
        bot=bot,
        sender_email=sender_email,
        branding=branding,
    )


def _parse_notices(where: str, section: object, problems: list[str]) -> dict[str, Notice]:
    if not isinstance(section, dict) or not set(section) <= set(LANGUAGES):
        problems.append(f"{where}.notice: a table with `en` and/or `nl` tables")
        section = {}
    notices: dict[str, Notice] = {}
    for lang in LANGUAGES:
        given = section.get(lang, {})
        if not isinstance(given, dict) or not set(given) <= {"text", "link"}:
            problems.append(f"{where}.notice.{lang}: a table with `text` and/or `link`")
            given = {}
        text = given.get("text", DEFAULT_NOTICE[lang])
        link = given.get("link")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_NOTICE:
            problems.append(f"{where}.notice.{lang}.text: text of 1 to {MAX_NOTICE} characters")
            text = ""
        if link is not None and not (isinstance(link, str) and _LINK.fullmatch(link)):
            problems.append(f"{where}.notice.{lang}.link: an http(s) URL")
            link = None
        notices[lang] = Notice(text.strip(), link)
    # A link given for one language only is better than none for the other.
    if notices["en"].link is None or notices["nl"].link is None:
        shared = notices["en"].link or notices["nl"].link
        notices = {lang: Notice(n.text, n.link or shared) for lang, n in notices.items()}
    return notices
