"""A site's look in the widget, from its entry in the sites file: team name, logo, greeting, theme
(colour, corner, launcher label) and whether agents' names are shown. Everything here is public
and validated: the colour is a hex colour and nothing else (no CSS reaches the page), texts are
plain text (the widget draws them as text nodes), and the logo is a file of ours, checked by content.

    [sites.shop]
    team_name = "Bakkerij De Korenbloem"
    logo = "korenbloem.png"        # relative to the sites file; PNG, JPEG or WebP, at most 100 kB
    show_agent_names = true        # agents' first names on their messages (default true)
    greeting = { en = "Hello! Ask us anything.", nl = "Hallo! Vraag het ons." }
    [sites.shop.theme]
    color = "#9a3412"
    position = "left"              # or "right" (default)
    launcher = { en = "Questions?", nl = "Vragen?" }
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

LANGUAGES = ("en", "nl")
KEYS = frozenset({"team_name", "logo", "show_agent_names", "greeting", "theme"})
DEFAULT_COLOR = "#1f5fbf"
MAX_TEAM_NAME = 60
MAX_GREETING = 300
MAX_LAUNCHER = 24
MAX_LOGO_BYTES = 100_000
MAX_LOGO_SIDE = 1024
# Raster formats only: an SVG opened on our origin could run script.
LOGO_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
_HEX = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True)
class Logo:
    body: bytes
    content_type: str
    digest: str  # names the file in its URL, so it may be cached for a year


@dataclass(frozen=True)
class Branding:
    team_name: str | None = None
    logo: Logo | None = None
    show_agent_names: bool = True
    greetings: Mapping[str, str] = field(default_factory=dict)
    color: str = DEFAULT_COLOR
    position: str = "right"
    launchers: Mapping[str, str] = field(default_factory=dict)

    @property
    def text_color(self) -> str:
        return text_on(self.color)

    def greeting(self, language: str | None) -> str | None:
        return _in(self.greetings, language)

    def launcher(self, language: str | None) -> str | None:
        return _in(self.launchers, language)


def _in(texts: Mapping[str, str], language: str | None) -> str | None:
    return texts.get(language or "en") or texts.get("en") or texts.get("nl")


def relative_luminance(hex_color: str) -> float:
    """WCAG 2 relative luminance of `#rrggbb`."""
    channels = [int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two `#rrggbb` colours (1 to 21)."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_on(background: str) -> str:
    """White or black text on `background`, whichever contrasts more: at least 4.58:1 for any colour."""
    return "#ffffff" if contrast(background, "#ffffff") >= contrast(background, "#000000") else "#000000"


def parse_color(value: object) -> str | None:
    """`#rgb` or `#rrggbb` as lower-case `#rrggbb`; anything else (names, rgb(), CSS) is None."""
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        return None
    hex_digits = value[1:].lower()
    return "#" + (hex_digits if len(hex_digits) == 6 else "".join(c * 2 for c in hex_digits))


def read_logo(path: Path) -> Logo:
    """The logo file if it is a PNG, JPEG or WebP image of sane size, judged by its content."""
    try:
        size = path.stat().st_size
        if size > MAX_LOGO_BYTES:
            raise ValueError(f"the file is {size} bytes; at most {MAX_LOGO_BYTES}")
        body = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        with Image.open(io.BytesIO(body)) as image:
            kind, (width, height) = image.format, image.size
            image.verify()  # walks the file's structure: a truncated or forged image fails here
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ValueError("not a readable PNG, JPEG or WebP image") from None
    if kind not in LOGO_TYPES:
        raise ValueError(f"a {kind} image; use PNG, JPEG or WebP")
    if max(width, height) > MAX_LOGO_SIDE:
        raise ValueError(f"{width}x{height} pixels; at most {MAX_LOGO_SIDE} on each side")
    return Logo(body, LOGO_TYPES[kind], hashlib.sha256(body).hexdigest()[:16])


def _text(value: object, limit: int) -> str | None:
    if not isinstance(value, str) or not value.strip() or len(value) > limit or _CONTROL.search(value):
        return None
    return value.strip()


def _texts(where: str, value: object, limit: int, problems: list[str]) -> dict[str, str]:
    """One text for both languages, or a table of `en` and/or `nl`."""
    given = dict.fromkeys(LANGUAGES, value) if isinstance(value, str) else value
    if not isinstance(given, dict) or not given or not set(given) <= set(LANGUAGES):
        problems.append(f"{where}: a text, or a table with `en` and/or `nl`")
        return {}
    texts = {}
    for lang, raw in given.items():
        text = _text(raw, limit)
        if text is None:
            problems.append(f"{where}.{lang}: one line of text, 1 to {limit} characters")
        else:
            texts[lang] = text
    return texts


def parse_branding(where: str, entry: Mapping[str, object], base: Path | None, problems: list[str]) -> Branding:
    """The branding keys of one site's entry; each problem is appended to `problems`."""
    team_name = entry.get("team_name")
    if team_name is not None and (team_name := _text(team_name, MAX_TEAM_NAME)) is None:
        problems.append(f"{where}.team_name: one line of text, 1 to {MAX_TEAM_NAME} characters")
    logo = None
    if "logo" in entry:
        raw = entry["logo"]
        if not isinstance(raw, str) or not raw:
            problems.append(f"{where}.logo: the path of an image file")
        else:
            path = Path(raw) if base is None else base / raw
            try:
                logo = read_logo(path)
            except ValueError as exc:
                problems.append(f"{where}.logo: {exc}")
    names = entry.get("show_agent_names", True)
    if not isinstance(names, bool):
        problems.append(f"{where}.show_agent_names: true or false")
        names = True
    greetings = _texts(f"{where}.greeting", entry["greeting"], MAX_GREETING, problems) if "greeting" in entry else {}
    theme = entry.get("theme", {})
    if not isinstance(theme, dict) or not set(theme) <= {"color", "position", "launcher"}:
        problems.append(f"{where}.theme: a table with `color`, `position` and/or `launcher`")
        theme = {}
    color = parse_color(theme.get("color", DEFAULT_COLOR))
    if color is None:
        problems.append(f'{where}.theme.color: a hex colour like "#1f5fbf"')
    position = theme.get("position", "right")
    if position not in ("left", "right"):
        problems.append(f'{where}.theme.position: "left" or "right"')
    launchers = (
        _texts(f"{where}.theme.launcher", theme["launcher"], MAX_LAUNCHER, problems) if "launcher" in theme else {}
    )
    return Branding(
        team_name=team_name if isinstance(team_name, str) else None,
        logo=logo,
        show_agent_names=names,
        greetings=greetings,
        color=color or DEFAULT_COLOR,
        position=str(position),
        launchers=launchers,
    )
