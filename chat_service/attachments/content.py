"""What an uploaded file is, judged by its content alone, and a clean copy of it.

The name and the Content-Type a client sends are never trusted: the first bytes say which kind a
file claims to be, and the matching parser must then read it. Images are decoded by Pillow (only
the decoder of the kind their bytes name, within a pixel budget checked before decoding) and
re-encoded from bare pixels, so EXIF (GPS position, camera serial), XMP, comments and any other
metadata do not survive; an embedded colour profile is applied (converted to sRGB) rather than
kept. PDF files must parse with pypdf and are stored as they came (see docs/privacy.md).

CPU-bound: run `inspect_file` in a worker thread.
"""

from __future__ import annotations

import io
import unicodedata
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps, ImageSequence, UnidentifiedImageError
from pypdf import PdfReader

from chat_service.errors import UnsupportedFile

# Content type -> (Pillow format, file name extension). GIF and WebP may be animated.
IMAGE_KINDS: dict[str, tuple[str, str]] = {
    "image/jpeg": ("JPEG", ".jpg"),
    "image/png": ("PNG", ".png"),
    "image/webp": ("WEBP", ".webp"),
    "image/gif": ("GIF", ".gif"),
}
PDF = "application/pdf"
KINDS = (*IMAGE_KINDS, PDF)
EXTENSIONS = {**{kind: ext for kind, (_, ext) in IMAGE_KINDS.items()}, PDF: ".pdf"}
JPEG_QUALITY = 90
MAX_NAME = 200
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@dataclass(frozen=True)
class CleanFile:
    type: str
    data: bytes


def sniff(data: bytes) -> str | None:
    """The kind the first bytes name (magic numbers), or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data.startswith(b"%PDF-"):
        return PDF
    return None


def inspect_file(data: bytes, max_pixels: int) -> CleanFile:
    """The file's kind and the bytes to store; `UnsupportedFile` if it is none of ours or unreadable."""
    kind = sniff(data)
    if kind is None:
        raise UnsupportedFile()
    if kind == PDF:
        check_pdf(data)
        return CleanFile(PDF, data)
    return CleanFile(kind, clean_image(data, kind, max_pixels))


def check_pdf(data: bytes) -> None:
    """A PDF that pypdf can open and that has at least one page; password-protected ones are refused."""
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        encrypted = reader.is_encrypted
        pages = 0 if encrypted else len(reader.pages)
    except Exception as exc:  # a malformed file may make the parser raise anything
        raise UnsupportedFile("This PDF file could not be read.") from exc
    if encrypted:
        raise UnsupportedFile("Password-protected PDF files cannot be attached.")
    if pages < 1:
        raise UnsupportedFile("This PDF file has no pages.")


def clean_image(data: bytes, kind: str, max_pixels: int) -> bytes:
    fmt, _ = IMAGE_KINDS[kind]
    too_big = UnsupportedFile(f"Images may have at most {max_pixels:,} pixels.", details={"max_pixels": max_pixels})
    try:
        # Only the decoder the magic bytes named: a file cannot pick another (riskier) one.
        with Image.open(io.BytesIO(data), formats=[fmt]) as image:
            # The header gives the size before anything is decoded: refuse a decompression bomb here.
            if image.width * image.height > max_pixels:
                raise too_big
            if getattr(image, "n_frames", 1) > 1:
                return _animation(image, fmt, max_pixels, too_big)
            image.load()
            return _save_still(image, fmt)
    except UnsupportedFile:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise UnsupportedFile("This image could not be read.") from exc


def _bare(image: Image.Image) -> Image.Image:
    """The same pixels in a new image: no info, no EXIF, no profile, nothing but pixels (and palette)."""
    bare = Image.frombytes(image.mode, image.size, image.tobytes())
    if image.mode in ("P", "PA"):
        palette = image.getpalette()
        if palette is not None:
            bare.putpalette(palette)
    transparency = image.info.get("transparency")
    if transparency is not None:
        bare.info["transparency"] = transparency
    return bare


def _to_srgb(image: Image.Image) -> Image.Image:
    """Apply an embedded colour profile (so dropping it does not shift the colours)."""
    icc = image.info.get("icc_profile")
    if icc and image.mode in ("RGB", "RGBA", "CMYK"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(
                image, source, _SRGB, outputMode="RGBA" if image.mode == "RGBA" else "RGB"
            )
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: use the pixels as they are
    return image.convert("RGB") if image.mode == "CMYK" else image


def _save_still(image: Image.Image, fmt: str) -> bytes:
    # Turned as the camera meant it before the orientation tag goes with the rest of EXIF.
    upright = ImageOps.exif_transpose(image) or image
    upright.info = dict(image.info)
    pixels = _bare(_to_srgb(upright))
    if fmt == "JPEG" and pixels.mode not in ("L", "RGB"):
        pixels = pixels.convert("RGB")
    out = io.BytesIO()
    options: dict[str, object] = {"quality": JPEG_QUALITY} if fmt in ("JPEG", "WEBP") else {}
    pixels.save(out, fmt, **options)
    return out.getvalue()


def _animation(image: Image.Image, fmt: str, max_pixels: int, too_big: UnsupportedFile) -> bytes:
    frames: list[Image.Image] = []
    durations: list[int] = []
    total = 0
    for frame in ImageSequence.Iterator(image):
        total += frame.width * frame.height
        if total > max_pixels:  # every frame counts against the budget
            raise too_big
        frames.append(_bare(frame.convert("RGBA")))
        durations.append(int(frame.info.get("duration", 100)))
    out = io.BytesIO()
    loop = int(image.info.get("loop", 0))
    options: dict[str, object] = {"quality": JPEG_QUALITY} if fmt == "WEBP" else {"disposal": 2}
    frames[0].save(out, fmt, save_all=True, append_images=frames[1:], duration=durations, loop=loop, **options)
    return out.getvalue()


def display_name(raw: str | None, kind: str) -> str:
    """The name to show and to offer on download: the client's base name without control or
    direction-override characters, at most `MAX_NAME` long, ending in the extension of its real kind."""
    name = unicodedata.normalize("NFC", (raw or "").replace("\\", "/").rsplit("/", 1)[-1])
    # Categories C*: controls, format characters (U+202E would show "gnp.exe" as "exe.png"), unassigned.
    name = "".join(c for c in name if not unicodedata.category(c).startswith("C")).strip().lstrip(".")
    extension = EXTENSIONS[kind]
    alternatives = (".jpeg",) if kind == "image/jpeg" else ()
    if not name.lower().endswith((extension, *alternatives)):
        name = (name or "file") + extension
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        name = stem[: MAX_NAME - len(ext) - 1] + dot + ext
    return name
