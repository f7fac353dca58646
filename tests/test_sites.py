"""Per-site configuration: parsing, defaults, origin rules, and how settings report a bad file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chat_service.settings import SettingsError, load_settings
from chat_service.sites import DEFAULT_NOTICE, DEV_SITE, SitesError, load_sites, parse_sites, read_sites_file

SHOP = "https://shop.example.eu"


def test_a_minimal_site_gets_the_default_notice_in_both_languages() -> None:
    site = parse_sites({"sites": {"shop": {"origins": [SHOP]}}}).get("shop")
    assert site is not None
    assert site.origins == {SHOP}
    assert site.notice_version == "1"
    assert site.notice("en").text == DEFAULT_NOTICE["en"]
    assert site.notice("nl").text == DEFAULT_NOTICE["nl"]
    assert site.notice("de").text == DEFAULT_NOTICE["en"]  # unknown language: English
    assert site.notice("en").link is None


def test_a_link_given_for_one_language_serves_both() -> None:
    site = parse_sites({"sites": {"s": {"notice": {"nl": {"link": f"{SHOP}/privacy"}}}}}).get("s")
    assert site is not None
    assert site.notice("en").link == site.notice("nl").link == f"{SHOP}/privacy"


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"origins": ["https://shop.example.eu/path"]}, "sites.s.origins"),
        ({"origins": "https://shop.example.eu"}, "sites.s.origins"),
        ({"notice_version": "v 1"}, "sites.s.notice_version"),
        ({"notice": {"de": {"text": "Hallo"}}}, "sites.s.notice"),
        ({"notice": {"en": {"text": ""}}}, "sites.s.notice.en.text"),
        ({"notice": {"en": {"link": "javascript:alert(1)"}}}, "sites.s.notice.en.link"),
        ({"notice": {"en": {"colour": "red"}}}, "sites.s.notice.en"),
        ({"origin": [SHOP]}, "unknown key(s) origin"),
    ],
)
def test_invalid_entries_are_named(entry: dict[str, Any], problem: str) -> None:
    with pytest.raises(SitesError) as caught:
        parse_sites({"sites": {"s": entry}})
    assert any(problem in p for p in caught.value.problems), caught.value.problems


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SitesError) as caught:
        parse_sites({"sites": {"bad id": {}, "s": {"origins": ["nope"], "notice_version": ""}}})
    assert len(caught.value.problems) == 3


def test_origins_a_site_allows() -> None:
    site = parse_sites({"sites": {"s": {"origins": [SHOP]}}}).get("s")
    assert site is not None
    assert site.allows_origin(SHOP)
    assert site.allows_origin(None)  # not a cross-origin browser request
    assert site.allows_origin("http://chat.example.eu", own={"http://chat.example.eu"})
    assert not site.allows_origin("https://evil.example")
    assert not site.allows_origin("https://shop.example.eu.evil.example")


def test_toml_and_json_files(tmp_path: Path) -> None:
    toml = tmp_path / "sites.toml"
    toml.write_text(f'[sites.shop]\norigins = ["{SHOP}"]\nnotice_version = "2025-01"\n')
    json_file = tmp_path / "sites.json"
    json_file.write_text(f'{{"sites": {{"shop": {{"origins": ["{SHOP}"], "notice_version": "2025-01"}}}}}}')
    for path in (toml, json_file):
        site = read_sites_file(path).get("shop")
        assert site is not None and site.notice_version == "2025-01"


def test_a_bad_sites_file_is_a_settings_problem(tmp_path: Path) -> None:
    path = tmp_path / "sites.toml"
    path.write_text('[sites.shop]\norigins = ["ftp://x"]\n')
    with pytest.raises(SettingsError) as caught:
        load_settings({"CHAT_DEV": "true", "CHAT_SITES_FILE": str(path)})
    assert "CHAT_SITES_FILE" in str(caught.value) and "sites.shop.origins" in str(caught.value)
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings({"CHAT_DEV": "true", "CHAT_SITES_FILE": str(tmp_path / "missing.toml")})


def test_dev_mode_without_a_file_has_a_demo_site_and_production_has_none() -> None:
    dev = load_settings({"CHAT_DEV": "true", "CHAT_ALLOWED_ORIGINS": SHOP})
    demo = load_sites(dev).get(DEV_SITE)
    assert demo is not None and demo.origins == {SHOP}
    production = dev.replace(dev=False)
    assert len(load_sites(production)) == 0
