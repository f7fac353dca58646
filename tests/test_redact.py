"""Redaction of personal data in message texts: real-looking examples and near-misses."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retention.redact import known_value_patterns, redact

REDACTED = [
    # e-mail
    ("mail me at jan.de.vries@voorbeeld.nl please", "mail me at [email] please"),
    ("Contact: J.Jansen+shop@mail.example.co.uk.", "Contact: [email]."),
    # phone, Dutch
    ("bel me op 06-12345678", "bel me op [phone]"),
    ("mijn nummer is 06 1234 5678.", "mijn nummer is [phone]."),
    ("0612345678", "[phone]"),
    ("kantoor: 020-1234567 of (010) 123 4567", "kantoor: [phone] of [phone]"),
    ("+31 6 12345678", "[phone]"),
    ("+31 (0)6 1234 5678 graag na 17 uur", "[phone] graag na 17 uur"),
    ("0031612345678", "[phone]"),
    # phone, international
    ("call +44 20 7946 0958 tomorrow", "call [phone] tomorrow"),
    ("Büro +49 30 12345678", "Büro [phone]"),
    ("US: +1 (555) 123-4567", "US: [phone]"),
    # IBAN (with and without spaces, any case)
    ("IBAN NL91ABNA0417164300", "IBAN [iban]"),
    ("rekening NL91 ABNA 0417 1643 00, t.n.v. mij", "rekening [iban], t.n.v. mij"),
    ("de22 1001 0010 0123 4567 89", "[iban]"),
    ("BE71 0961 2345 6769", "[iban]"),
    # card (Luhn-valid)
    ("card 4111 1111 1111 1111 exp 12/27", "card [card] exp 12/27"),
    ("5500-0000-0000-0004", "[card]"),
    # BSN (11-test valid)
    ("mijn BSN is 111222333", "mijn BSN is [bsn]"),
    # postcode with and without house number, street address
    ("ik woon in 1012 AB Amsterdam", "ik woon in [postcode] Amsterdam"),
    ("postcode 1012AB 12", "postcode [postcode]"),
    ("3511 LX 1-3", "[postcode]"),
    ("adres: 2514ab 7", "adres: [postcode]"),
    ("Keizersgracht 123, 1015 CJ Amsterdam", "[address], [postcode] Amsterdam"),
    ("stuur het naar Dorpsstraat 5a", "stuur het naar [address]"),
    # IP addresses
    ("my IP is 203.0.113.77.", "my IP is [ip]."),
    ("server 192.168.1.1:8080", "server [ip]:8080"),
    ("v6 2001:db8::8a2e:370:7334 here", "v6 [ip] here"),
    # URLs with query strings (trailing punctuation kept)
    ("zie https://shop.example.eu/order?id=123&mail=x (klik)", "zie [url] (klik)"),
    ("www.example.nl/track?code=ABC123.", "[url]."),
    # several in one text
    (
        "Ik ben te bereiken op 06-12345678 of jan@example.nl, IBAN NL91ABNA0417164300.",
        "Ik ben te bereiken op [phone] of [email], IBAN [iban].",
    ),
]

KEPT = [
    "bestelling 123456 is verzonden",  # order number
    "factuur 2024-000123 van 01-05-2024",  # dates and invoice numbers
    "we zijn open van 09:00 tot 17:30",  # times
    "het kost € 1.234,56 incl. btw",  # prices
    "versie 1.2.3 en build 10.4",  # versions
    "999.1.1.1 is not an address",  # octet out of range
    "1.2.3.4.5 is a version",  # five parts
    "in 2019 we moved",  # year followed by a word
    "in 2024 zijn we verhuisd",  # year followed by a lowercase word
    "order #98765432101",  # 11 digits not starting with 0
    "referentie 123456789",  # 9 digits failing the 11-test
    "kaart 1234 5678 9012 3456",  # 16 digits failing Luhn
    "NL12 3456",  # too short for an IBAN
    "https://example.eu/help/retouren",  # URL without query: not personal
    "what? yes! really?",
    "@janjansen on social media",  # handle, not an address
    "KvK 12345678",  # chamber of commerce number: 8 digits, public
    "we have 3 parks and 2 lanes",
    "Version 2.0:1.1 build",
    "[email] [phone] [iban]",  # placeholders stay as they are
]


@pytest.mark.parametrize(("text", "expected"), REDACTED)
def test_personal_data_is_replaced_by_a_typed_placeholder(text: str, expected: str) -> None:
    assert redact(text).text == expected


@pytest.mark.parametrize("text", KEPT)
def test_near_misses_are_left_alone(text: str) -> None:
    result = redact(text)
    assert result.text == text
    assert not result.changed


@pytest.mark.parametrize(("text", "expected"), REDACTED)
def test_redacting_twice_changes_nothing(text: str, expected: str) -> None:
    assert redact(redact(text).text).text == expected


def test_counts_name_kinds_only() -> None:
    result = redact("06-12345678, 0612345678 en a@b.nl")
    assert result.counts == {"phone": 2, "email": 1}


def test_known_visitor_values_are_redacted_by_whole_word() -> None:
    known = known_value_patterns(
        [("name", "Canary Jansen-de Vries"), ("email", "canary@voorbeeld.nl"), ("ip", "203.0.113.77")]
    )
    text = "Hallo, ik ben Canary Jansen-de Vries. Mevrouw Jansen belt terug; Vriesland en Canaryville niet."
    assert redact(text, known).text == (
        "Hallo, ik ben [name]. Mevrouw [name] belt terug; Vriesland en Canaryville niet."
    )
    # Two-letter parts ("de") are not treated as names.
    assert redact("de winkel", known).text == "de winkel"
    assert redact("[name] and [email]", known).text == "[name] and [email]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Terugbetalen op NL91ABNA0417164300 graag", "Terugbetalen op [iban] graag"),
        ("NL91ABNA0417164300 NL91ABNA0417164300", "[iban] [iban]"),
        ("bel 06-12345678 020 1234567", "bel [phone] [phone]"),
        ("+31 6 12345678 of +31 6 87654321", "[phone] of [phone]"),
    ],
)
def test_adjacent_items_are_each_found(text: str, expected: str) -> None:
    assert redact(text).text == expected


def test_known_values_in_any_letter_case_and_script_are_redacted() -> None:
    known = known_value_patterns([("name", "Kees Åsa"), ("email", "kees@voorbeeld.nl")])
    assert redact("KEES en åsa, KEES@Voorbeeld.NL", known).text == "[name] en [name], [email]"
    # Regex case folding, not str.lower: a long s (U+017F) is an "s", the Kelvin sign a "k".
    assert redact("Kee\u017f belt", known).text == "[name] belt"
    assert redact("\u212aees belt", known).text == "[name] belt"
    assert redact("Keesje en Kees2 blijven", known).text == "Keesje en Kees2 blijven"


@settings(max_examples=300, deadline=None)
@given(
    value=st.text(alphabet="kKsS\u017f\u212ai\u0131 .-", min_size=3, max_size=5),
    text=st.text(alphabet="kKsS\u017f\u212ai\u0131 .-[]1", max_size=30),
)
def test_a_known_value_matches_exactly_where_its_whole_word_regex_does(value: str, text: str) -> None:
    # The substring shortcut must never miss what the compiled pattern finds.
    for _, known in known_value_patterns([("name", value)]):
        reference = re.compile(r"(?<![\w\[])" + re.escape(known.term) + r"(?![\w\]])", re.IGNORECASE)
        assert known.subn("[name]", text) == reference.subn("[name]", text)
