"""The built widget files, read once at start-up and served from memory (gzip computed ahead).

`widget/build.mjs` writes them to `static/` with a manifest: the loader keeps its fixed name
(`/widget.js`, short cache, so sites pick up new releases), everything else (the chat bundle,
the agent console's script and stylesheet) is content-hashed or versioned with the bundle and
may be cached for a year.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from aiohttp import web

from chat_service.errors import ChatError

STATIC_DIR = Path(__file__).parent / "static"
LOADER_CACHE = "public, max-age=300"
IMMUTABLE_CACHE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    content_type: str
    cache_control: str
    digest: str

    @classmethod
    def build(cls, body: bytes, name: str, cache_control: str) -> Asset:
        content_type = "text/javascript" if name.endswith(".js") else mimetypes.guess_type(name)[0] or "text/plain"
        return cls(
            body=body,
            gzipped=gzip.compress(body, compresslevel=9, mtime=0),
            content_type=content_type,
            cache_control=cache_control,
            digest=hashlib.sha256(body).hexdigest()[:16],
        )


@dataclass(frozen=True)
class WidgetAssets:
    loader: Asset
    files: Mapping[str, Asset]  # served under /widget/<name>
    bundle_name: str


@dataclass(frozen=True)
class ConsoleAssets:
    script_name: str
    style_name: str
    files: Mapping[str, Asset]  # served under /console/<name>


ASSETS = web.AppKey("widget_assets", WidgetAssets)
CONSOLE_ASSETS = web.AppKey("console_assets", ConsoleAssets)


def load_assets(static_dir: Path = STATIC_DIR) -> WidgetAssets | None:
    """The build's files, or None when the widget has not been built."""
    try:
        manifest = json.loads((static_dir / "manifest.json").read_text())
        loader = Asset.build((static_dir / manifest["loader"]).read_bytes(), manifest["loader"], LOADER_CACHE)
        names = [manifest["bundle"], manifest["licenses"]]
        files = {name: Asset.build((static_dir / name).read_bytes(), name, IMMUTABLE_CACHE) for name in names}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return WidgetAssets(loader=loader, files=files, bundle_name=manifest["bundle"])


def load_console_assets(static_dir: Path = STATIC_DIR) -> ConsoleAssets | None:
    """The console's script and stylesheet, or None when they have not been built."""
    try:
        names = json.loads((static_dir / "manifest.json").read_text())["console"]
        script, style = names["script"], names["style"]
        files = {name: Asset.build((static_dir / name).read_bytes(), name, IMMUTABLE_CACHE) for name in (script, style)}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return ConsoleAssets(script_name=script, style_name=style, files=files)


class AssetsNotBuilt(ChatError):
    code = "not_built"
    http_status = 503


AssetsT = TypeVar("AssetsT", WidgetAssets, ConsoleAssets)


def built(request: web.Request, key: web.AppKey[AssetsT], what: str) -> AssetsT:
    """The built files under `key`, or a 503 telling the operator to build them."""
    assets = request.app.get(key)
    if assets is None:
        raise AssetsNotBuilt(f"The {what} has not been built: run scripts/install.")
    return assets


def asset_response(request: web.Request, asset: Asset, *, cross_origin: bool = True) -> web.Response:
    """The asset, gzipped when the client accepts it, with a validator per representation."""
    gzipped = "gzip" in request.headers.get("Accept-Encoding", "")
    etag = f'"{asset.digest}{"-gz" if gzipped else ""}"'
    headers = {
        "Cache-Control": asset.cache_control,
        "ETag": etag,
        "Vary": "Accept-Encoding",
    }
    if cross_origin:
        # The loader imports the bundle as a module, which browsers fetch with CORS.
        headers["Access-Control-Allow-Origin"] = "*"
        headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    else:
        headers["Cross-Origin-Resource-Policy"] = "same-origin"
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return web.Response(
        body=asset.gzipped if gzipped else asset.body,
        headers=headers,
        content_type=asset.content_type,
        charset="utf-8",
    )
