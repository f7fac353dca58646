"""Find personal data in free text and replace it with typed placeholders such as `[email]`.

Pure functions, no I/O. Patterns favour recall for what is common in Dutch and international
customer chats (e-mail, phone, IBAN, card, BSN, postcode, street address, IP, URL with a query),
and each digit pattern is confirmed by a check (length, Luhn, 11-test, IP ranges) so that order
numbers, dates, times, prices and versions survive. Redacting twice changes nothing.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

# IBAN lengths per country (ISO 13616), for the countries EU chats meet most.
IBAN_LENGTHS = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
    "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22,
    "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18,
    "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
}  # fmt: skip

# Placeholders are never matched again: brackets are outside every pattern's alphabet.
_NOT_IN_WORD_BEFORE = r"(?<![\w\[])"
_NOT_IN_WORD_AFTER = r"(?![\w\]])"

_URL_WITH_QUERY = re.compile(r"(?<![\w@])(?:https?://|www\.)[^\s<>\"']*\?[^\s<>\"']+", re.IGNORECASE)
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])")
_CARD = re.compile(r"(?<![\d\w])\d(?:[ \-]?\d){12,18}(?!\d)")
_IPV4 = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\.?\d)"
)
_IPV6 = re.compile(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%\w+)?(?![\w:])")
_PHONE_INTL = re.compile(r"(?<![\w+])(?:\+|00)[1-9][\d ().\-]{6,22}\d(?!\d)")
_PHONE_NL = re.compile(r"(?<![\w+])\(?0[\d ().\-]{8,16}\d(?!\d)")
_BSN = re.compile(r"(?<![\w.,\-])\d{9}(?![\w.,\-]?\d)")
_POSTCODE = re.compile(
    r"(?<![\w\[])(?:[1-9]\d{3} ?(?!SA|SD|SS)[A-Z]{2}|[1-9]\d{3}[a-z]{2}(?=[ ,]+\d))"
    r"(?:[ ,]+\d{1,5}(?: ?[a-zA-Z](?![a-zA-Z])|-\d{1,4})?)?(?![\w\]])"
)
_STREET_SUFFIXES = (
    "straat|straatweg|laan|weg|gracht|plein|kade|singel|dijk|hof|steeg|dreef|pad|markt|baan|"
    "plantsoen|burgwal|wal|dam|park|hoven|erf|veld|ring"
)
_ADDRESS = re.compile(
    rf"(?<![\w\[])[A-Za-z][a-z]+(?:{_STREET_SUFFIXES}) \d{{1,5}}(?: ?[a-zA-Z](?![a-zA-Z])|-\d{{1,4}})?(?![\w\]])"
)
_TRAILING_PUNCT = ".,;:!?)]}'\""


@dataclass(frozen=True)
class Redaction:
    """The redacted text and how many of each kind were replaced (counts carry no personal data)."""

    text: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.counts)


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _bsn_ok(digits: str) -> bool:
    weights = (9, 8, 7, 6, 5, 4, 3, 2, -1)
    return sum(w * int(d) for w, d in zip(weights, digits, strict=True)) % 11 == 0 and digits != "0" * 9


def _iban_ok(candidate: str) -> bool:
    compact = candidate.replace(" ", "").upper()
    return IBAN_LENGTHS.get(compact[:2]) == len(compact)


def _card_ok(candidate: str) -> bool:
    digits = _digits(candidate)
    return 13 <= len(digits) <= 19 and _luhn_ok(digits)


def _ipv6_ok(candidate: str) -> bool:
    try:
        ipaddress.IPv6Address(candidate.split("%")[0])
    except ValueError:
        return False
    return True


def _phone_intl_ok(candidate: str) -> bool:
    # E.164: at most 15 digits; fewer than 8 is a code or an amount, not a reachable number.
    return _balanced(candidate) and 8 <= len(_digits(candidate)) <= 15


def _phone_nl_ok(candidate: str) -> bool:
    digits = _digits(candidate)
    return _balanced(candidate) and len(digits) == 10 and not digits.startswith("00")


def _balanced(candidate: str) -> bool:
    return candidate.count("(") == candidate.count(")")


def _always(_: str) -> bool:
    return True


def _url_end(candidate: str) -> int | None:
    """A URL keeps its trailing punctuation outside the placeholder ("see [url].")."""
    return len(candidate.rstrip(_TRAILING_PUNCT))


@dataclass(frozen=True)
class _Rule:
    """A pattern finds candidates; `accept` confirms one (whole, or its longest valid prefix)."""

    kind: str
    pattern: re.Pattern[str]
    accept: Callable[[str], bool] = _always
    end: Callable[[str], int | None] | None = None

    def accepted_length(self, candidate: str) -> int | None:
        if self.end is not None:
            return self.end(candidate)
        if self.accept(candidate):
            return len(candidate)
        # Patterns are greedy over spaces ("NL91ABNA0417164300 graag"): try shorter prefixes that
        # end before a space, longest first.
        for cut in range(len(candidate) - 1, 0, -1):
            if candidate[cut] == " " and self.accept(candidate[:cut].rstrip(" .-(")):
                return len(candidate[:cut].rstrip(" .-("))
        return None


# Order matters: wider and more specific patterns first, so a URL's query or a card's digits
# are not half-eaten by the phone or BSN rules.
RULES: tuple[_Rule, ...] = (
    _Rule("url", _URL_WITH_QUERY, end=_url_end),
    _Rule("email", _EMAIL),
    _Rule("iban", _IBAN, _iban_ok),
    _Rule("card", _CARD, _card_ok),
    _Rule("ip", _IPV4),
    _Rule("ip", _IPV6, _ipv6_ok),
    _Rule("phone", _PHONE_INTL, _phone_intl_ok),
    _Rule("phone", _PHONE_NL, _phone_nl_ok),
    _Rule("bsn", _BSN, _bsn_ok),
    _Rule("postcode", _POSTCODE),
    _Rule("address", _ADDRESS),
)


def _apply(rule: _Rule, text: str, counts: Counter[str]) -> str:
    out: list[str] = []
    pos = 0
    while (match := rule.pattern.search(text, pos)) is not None:
        length = rule.accepted_length(match.group(0))
        if length is None:
            # Not this one; a candidate may still start inside it (the look-behinds see the text).
            out.append(text[pos : match.start() + 1])
            pos = match.start() + 1
            continue
        counts[rule.kind] += 1
        out.append(text[pos : match.start()])
        out.append(f"[{rule.kind}]")
        pos = match.start() + length
    out.append(text[pos:])
    return "".join(out)


class KnownValue:
    """One value we know about this visitor, matched as a whole word in any letter case.

    Compiled on first use: most texts do not contain the value, and for ASCII values in ASCII
    texts a substring test shows that without a regex (compiling one regex per value and
    conversation was a quarter of the retention job's CPU). Non-ASCII texts always take the regex,
    whose case folding knows more than `str.lower` (a long s, U+017F, matches "s").
    """

    __slots__ = ("_ascii", "_pattern", "term")

    def __init__(self, term: str):
        self.term = term.lower()
        self._ascii = self.term.isascii()
        self._pattern: re.Pattern[str] | None = None

    @property
    def pattern(self) -> re.Pattern[str]:
        if self._pattern is None:
            self._pattern = re.compile(_NOT_IN_WORD_BEFORE + re.escape(self.term) + _NOT_IN_WORD_AFTER, re.IGNORECASE)
        return self._pattern

    def subn(self, replacement: str, text: str) -> tuple[str, int]:
        if self._ascii and text.isascii() and self.term not in text.lower():
            return text, 0
        return self.pattern.subn(replacement, text)


def known_value_patterns(values: Iterable[tuple[str, str]]) -> list[tuple[str, KnownValue]]:
    """Patterns for identifiers we already know about this visitor (kind, value) -> whole-word matches.

    Names are also matched by their parts of three letters or more, so "Jansen" alone is caught.
    """
    terms: dict[str, str] = {}
    for kind, value in values:
        value = value.strip()
        if not value:
            continue
        terms.setdefault(value.lower(), kind)
        if kind == "name":
            for part in re.split(r"[\s\-]+", value):
                if len(part) >= 3:
                    terms.setdefault(part.lower(), kind)
    # Longest first, so the full name wins over its parts.
    ordered = sorted(terms.items(), key=lambda item: -len(item[0]))
    return [(kind, KnownValue(term)) for term, kind in ordered]


def redact(text: str, known: list[tuple[str, KnownValue]] | None = None) -> Redaction:
    """Replace personal data in `text` with `[kind]` placeholders.

    `known` (from `known_value_patterns`) adds this visitor's own name, e-mail, IP and page URL,
    which no general pattern can recognise (a name is just a word).
    """
    counts: Counter[str] = Counter()
    for kind, pattern in known or ():
        text, n = pattern.subn(f"[{kind}]", text)
        if n:
            counts[kind] += n
    for rule in RULES:
        text = _apply(rule, text, counts)
    return Redaction(text, dict(counts))
