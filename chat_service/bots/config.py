"""Which bot each site has: the sites file's `[sites.<id>.bot]`, replaced by an admin's database copy.

The database copy, when a site has one, replaces the file's table as a whole (no merging);
deleting it falls back to the file. Each node re-reads the copies every `REFRESH_S` seconds and at
once after a change made through it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from chat_service.bots.faq import FaqIndex
from chat_service.bots.hours import OfficeHours
from chat_service.errors import ChatError
from chat_service.logging import get_logger
from chat_service.schemas import validate
from chat_service.schemas.bots import BotConfigBody
from chat_service.storage import Database

log = get_logger(__name__)
REFRESH_S = 5.0
Source = Literal["file", "database"]


@dataclass(frozen=True)
class SiteBot:
    """A site's effective bot, with what it needs prepared (the FAQ index, the office hours)."""

    site_id: str
    config: BotConfigBody
    source: Source
    hours: OfficeHours | None = None
    faq: FaqIndex | None = None
    updated_at: datetime | None = None

    @classmethod
    def build(cls, site_id: str, config: BotConfigBody, source: Source, updated_at: datetime | None = None) -> SiteBot:
        hours = OfficeHours.from_body(config.hours) if config.hours is not None else None
        faq = None
        if config.type == "builtin":
            faq = FaqIndex([{lang: getattr(e.question, lang) for lang in ("en", "nl")} for e in config.faq])
        return cls(site_id, config, source, hours, faq, updated_at)

    @property
    def identity(self) -> dict[str, str]:
        """What every message of this bot carries: `{"name", "version"}`."""
        return {"name": self.config.name, "version": self.config.version}

    @property
    def external(self) -> bool:
        return self.config.type != "builtin"

    def within_hours(self, at: datetime) -> bool:
        return self.hours is None or self.hours.is_open(at)

    def greeting(self, language: str) -> str | None:
        return None if self.config.greeting is None else self.config.greeting.get(language)


@dataclass
class BotRegistry:
    """Effective bot per site: database copies over the sites file's tables."""

    db: Database | None
    from_file: Mapping[str, BotConfigBody]
    clock: Callable[[], float] = time.monotonic
    _bots: dict[str, SiteBot] = field(default_factory=dict)
    _file_bots: dict[str, SiteBot] = field(default_factory=dict)
    _read_at: float = float("-inf")

    def __post_init__(self) -> None:
        self._file_bots = {site: SiteBot.build(site, cfg, "file") for site, cfg in self.from_file.items()}
        self._bots = dict(self._file_bots)

    def get(self, site_id: str | None) -> SiteBot | None:
        return self._bots.get(site_id) if site_id else None

    def file_bot(self, site_id: str) -> SiteBot | None:
        return self._file_bots.get(site_id)

    def all(self) -> dict[str, SiteBot]:
        return dict(self._bots)

    async def refresh(self, *, force: bool = False) -> None:
        """Re-read the database copies (at most every `REFRESH_S` unless forced)."""
        if self.db is None or (not force and self.clock() - self._read_at < REFRESH_S):
            return
        self._read_at = self.clock()
        bots = dict(self._file_bots)
        for stored in await self.db.bots.all_configs():
            current = self._bots.get(stored.site_id)
            if current is not None and current.source == "database" and current.updated_at == stored.updated_at:
                bots[stored.site_id] = current  # unchanged: keep its index (building one costs CPU)
                continue
            try:
                config = validate(BotConfigBody, stored.config)
            except ChatError:  # a copy saved by an older version: keep the file's, say so
                log.warning("bot_config_unreadable", site_id=stored.site_id)
                continue
            # Off the event loop: a large FAQ's index takes a moment to build.
            bots[stored.site_id] = await asyncio.to_thread(
                SiteBot.build, stored.site_id, config, "database", stored.updated_at
            )
        self._bots = bots
