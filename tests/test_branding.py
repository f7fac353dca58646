"""A site's look in the widget (sites file): colours are hex only and get a readable text colour,
texts are plain single lines, and the logo is a small PNG, JPEG or WebP judged by its content."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from chat_service.branding import MAX_LOGO_BYTES, contrast, parse_color, text_on
from chat_service.settings import load_settings
from chat_service.sites import DEV_SITE, SitesError, load_sites, parse_sites, read_sites_file


def image_bytes(kind: str, size: tuple[int, int] = (64, 64), noise: bool = False) -> bytes:
    image = (
        Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)) if noise else Image.new("RGB", size, "#9a3412")
    )
    out = io.BytesIO()
    image.save(out, kind)
    return out.getvalue()


def site_with(tmp_path: Path, **entry: Any) -> Any:
    (tmp_path / "sites.json").write_text("{}")  # the logo path is relative to the sites file's folder
    return parse_sites({"sites": {"s": entry}}, tmp_path / "sites.json").get("s")


def problems_of(tmp_path: Path, **entry: Any) -> list[str]:
    with pytest.raises(SitesError) as caught:
        parse_sites({"sites": {"s": entry}}, tmp_path / "sites.toml")
    return caught.value.problems


def test_a_site_without_branding_gets_the_defaults() -> None:
    site = parse_sites({"sites": {"s": {}}}).get("s")
    assert site is not None
    b = site.branding
    assert (b.team_name, b.logo, b.color, b.position, b.show_agent_names) == (None, None, "#1f5fbf", "right", True)
    assert site.greeting("en") is None and b.launcher("nl") is None


def test_the_whole_branding_is_read_from_a_toml_file(tmp_path: Path) -> None:
    (tmp_path / "logo.png").write_bytes(image_bytes("PNG"))
    path = tmp_path / "sites.toml"
    path.write_text(
        """
[sites.shop]
team_name = "Bakkerij De Korenbloem"
logo = "logo.png"
show_agent_names = false
greeting = { en = "Hello! Ask us anything.", nl = "Hallo! Vraag maar." }
[sites.shop.theme]
color = "#9A3"
position = "left"
launcher = "Chat"
"""
    )
    site = read_sites_file(path).get("shop")
    assert site is not None
    b = site.branding
    assert b.team_name == "Bakkerij De Korenbloem"
    assert b.logo is not None and b.logo.content_type == "image/png"
    assert b.logo.body == (tmp_path / "logo.png").read_bytes()
    assert b.show_agent_names is False
    assert (site.greeting("en"), site.greeting("nl"), site.greeting("de")) == (
        "Hello! Ask us anything.",
        "Hallo! Vraag maar.",
        "Hello! Ask us anything.",
    )
    assert b.color == "#99aa33"  # short hex, normalised
    assert b.position == "left"
    assert b.launcher("en") == b.launcher("nl") == "Chat"  # one text serves both languages


def test_a_greeting_in_one_language_serves_the_other() -> None:
    site = parse_sites({"sites": {"s": {"greeting": {"nl": "Hoi!"}}}}).get("s")
    assert site is not None and site.greeting("en") == "Hoi!"


@pytest.mark.parametrize(
    "color",
    [
        "red",
        "#12345",
        "#1234567",
        "#ggg",
        "rgb(1,2,3)",
        "#fff;background:url(https://evil.example/x)",
        "#fff}:host{display:none",
        "#fff\n",
        "",
        12,
        None,
    ],
)
def test_only_a_hex_colour_is_a_colour(color: object) -> None:
    assert parse_color(color) is None
    assert any("sites.s.theme.color" in p for p in problems_of(Path("."), theme={"color": color}))


@pytest.mark.parametrize(
    "color", ["#000000", "#ffffff", "#777777", "#1f5fbf", "#ffff00", "#9a3412", "#808080", "#ff7f50"]
)
def test_text_on_any_brand_colour_reads_at_wcag_aa(color: str) -> None:
    assert contrast(color, text_on(color)) >= 4.5


def test_every_grey_gets_readable_text() -> None:
    for level in range(256):
        color = f"#{level:02x}{level:02x}{level:02x}"
        assert contrast(color, text_on(color)) >= 4.5, color


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"team_name": ""}, "sites.s.team_name"),
        ({"team_name": "x" * 61}, "sites.s.team_name"),
        ({"team_name": "two\nlines"}, "sites.s.team_name"),
        ({"team_name": ["list"]}, "sites.s.team_name"),
        ({"greeting": {"de": "Hallo"}}, "sites.s.greeting"),
        ({"greeting": {"en": "x" * 301}}, "sites.s.greeting.en"),
        ({"greeting": 5}, "sites.s.greeting"),
        ({"theme": {"position": "top"}}, "sites.s.theme.position"),
        ({"theme": {"font": "Comic Sans"}}, "sites.s.theme"),
        ({"theme": {"launcher": {"en": "x" * 25}}}, "sites.s.theme.launcher.en"),
        ({"show_agent_names": "yes"}, "sites.s.show_agent_names"),
        ({"logo": 3}, "sites.s.logo"),
    ],
)
def test_bad_branding_is_named(tmp_path: Path, entry: dict[str, Any], problem: str) -> None:
    assert any(problem in p for p in problems_of(tmp_path, **entry))


@pytest.mark.parametrize("kind", ["PNG", "JPEG", "WEBP"])
def test_png_jpeg_and_webp_logos_are_accepted_by_content_whatever_the_name(tmp_path: Path, kind: str) -> None:
    (tmp_path / "logo.gif").write_bytes(image_bytes(kind))  # the name says GIF; the content decides
    site = site_with(tmp_path, logo="logo.gif")
    assert site.branding.logo.content_type == {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}[kind]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "not a readable PNG"),
        (b"<html><script>alert(1)</script></html>", "not a readable PNG"),
        (image_bytes("PNG")[:60], "not a readable PNG"),  # truncated
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "not a readable PNG"),  # a PNG signature and nothing real
        (image_bytes("GIF"), "a GIF image"),
        (image_bytes("PNG", (2000, 10)), "2000x10 pixels"),
        (image_bytes("PNG", (300, 300), noise=True), f"at most {MAX_LOGO_BYTES}"),
    ],
)
def test_bad_logo_files_are_refused(tmp_path: Path, content: bytes, problem: str) -> None:
    (tmp_path / "logo.png").write_bytes(content)
    problems = problems_of(tmp_path, logo="logo.png")
    assert any(p.startswith("sites.s.logo:") and problem in p for p in problems), problems


def test_a_missing_logo_file_is_named(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, logo="nowhere.png")
    assert any(p.startswith("sites.s.logo: cannot read") for p in problems), problems


def test_the_dev_demo_site_is_a_branded_bakery() -> None:
    site = load_sites(load_settings({"CHAT_DEV": "true"})).get(DEV_SITE)
    assert site is not None
    assert site.branding.team_name == "Bakkerij De Korenbloem"
    assert site.branding.logo is not None and site.branding.logo.content_type == "image/png"
    assert site.greeting("nl") and site.branding.launcher("nl") == "Vragen?"
