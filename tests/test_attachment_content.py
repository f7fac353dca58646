"""What a file is by its content, and the clean copy that is stored: plain functions, table-driven."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, ImageCms, PngImagePlugin
from pypdf import PdfWriter

from chat_service.attachments.content import display_name, inspect_file, sniff
from chat_service.errors import UnsupportedFile

CANARY = "CANARY-Jansen-0613"
BUDGET = 40_000_000


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def reopened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def png_claiming(width: int, height: int) -> bytes:
    """A valid small PNG whose header claims another size (a decompression bomb's header)."""
    data = bytearray(encode(Image.new("L", (1, 1)), "PNG"))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"\xff\xd8\xff\xe0rest", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\nrest", "image/png"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"GIF89a...", "image/gif"),
        (b"%PDF-1.4", "application/pdf"),
        (b"<!doctype html>", None),
        (b"<svg xmlns=", None),
        (b"  %PDF-1.4", None),
        (b"", None),
    ],
)
def test_the_first_bytes_name_the_kind(data: bytes, kind: str | None) -> None:
    assert sniff(data) == kind


@pytest.mark.parametrize(
    ("raw", "kind", "shown"),
    [
        ("photo.png", "image/png", "photo.png"),
        ("photo.PNG", "image/png", "photo.PNG"),
        ("IMG_1.jpeg", "image/jpeg", "IMG_1.jpeg"),
        ("cat.png", "image/jpeg", "cat.png.jpg"),
        ("invoice.html", "application/pdf", "invoice.html.pdf"),
        ("C:\\Users\\anna\\scan.pdf", "application/pdf", "scan.pdf"),
        ("../../etc/passwd", "application/pdf", "passwd.pdf"),
        ("evil\u202egnp.exe", "image/png", "evilgnp.exe.png"),
        ("a\x00b\nc.gif", "image/gif", "abc.gif"),
        (".hidden.webp", "image/webp", "hidden.webp"),
        ("", "image/png", "file.png"),
        (None, "application/pdf", "file.pdf"),
        ("x" * 300 + ".pdf", "application/pdf", "x" * 196 + ".pdf"),
    ],
)
def test_the_shown_name_is_a_clean_base_name_with_the_real_extension(raw: str | None, kind: str, shown: str) -> None:
    assert display_name(raw, kind) == shown


def test_png_text_chunks_and_colour_profile_go_and_the_pixels_stay() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", CANARY)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    source = Image.new("RGBA", (8, 8), (250, 20, 30, 128))
    data = encode(source, "PNG", pnginfo=info, icc_profile=srgb)
    clean = inspect_file(data, BUDGET)
    assert clean.type == "image/png" and CANARY.encode() not in clean.data
    image = reopened(clean.data)
    assert image.mode == "RGBA" and "icc_profile" not in image.info and not getattr(image, "text", {})
    assert image.getpixel((1, 1)) == (250, 20, 30, 128)


def test_palette_transparency_survives() -> None:
    source = Image.new("P", (4, 4), 1)
    source.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    data = encode(source, "PNG", transparency=1)
    image = reopened(inspect_file(data, BUDGET).data)
    assert image.mode == "P" and image.info.get("transparency") == 1


def test_animated_gif_keeps_its_frames_and_loses_its_comment() -> None:
    frames = [Image.new("RGB", (10, 10), (80 * i, 0, 0)) for i in range(3)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0, comment=CANARY)
    clean = inspect_file(data, BUDGET)
    assert clean.type == "image/gif" and CANARY.encode() not in clean.data
    assert getattr(reopened(clean.data), "n_frames", 1) == 3


def test_webp_exif_goes() -> None:
    exif = Image.Exif()
    exif[0x0110] = CANARY
    data = encode(Image.new("RGB", (16, 16), (1, 2, 3)), "WEBP", exif=exif.tobytes())
    clean = inspect_file(data, BUDGET)
    assert clean.type == "image/webp" and CANARY.encode() not in clean.data
    assert len(reopened(clean.data).getexif()) == 0


@pytest.mark.parametrize("size", [(8000, 6000), (100_000, 100_000)])
def test_an_image_over_the_pixel_budget_is_refused_before_it_is_decoded(size: tuple[int, int]) -> None:
    with pytest.raises(UnsupportedFile):
        inspect_file(png_claiming(*size), BUDGET)


def test_an_animation_counts_every_frame_against_the_budget() -> None:
    frames = [Image.new("RGB", (100, 100), (50 * i, 0, 0)) for i in range(5)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert getattr(reopened(inspect_file(data, 50_000).data), "n_frames", 1) == 5
    with pytest.raises(UnsupportedFile, match="pixels"):
        inspect_file(data, 40_000)


def pdf(password: str | None = None) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=100, height=100)
    if password:
        writer.encrypt(password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_pdf_is_kept_as_it_came() -> None:
    data = pdf()
    assert inspect_file(data, BUDGET).data == data


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (pdf("secret"), "Password-protected"),
        (pdf()[:40], "could not be read"),
        (b"%PDF-1.7\n<script>alert(1)</script>", "could not be read"),
    ],
)
def test_unreadable_or_locked_pdf_files_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(UnsupportedFile, match=reason):
        inspect_file(data, BUDGET)
