"""Typed keys for the objects the application shares (no module globals)."""

from __future__ import annotations

from dataclasses import dataclass

import socketio
from aiohttp import web

from chat_service.accounts import Accounts
from chat_service.attachments import Attachments
from chat_service.audit import AuditLog
from chat_service.bots import BotRunner
from chat_service.bots.admin import BotAdmin
from chat_service.conversations import Conversations
from chat_service.crypto import HmacKeys
from chat_service.outbox import Outbox, Webhooks
from chat_service.presence import Presence
from chat_service.reports import Reports
from chat_service.residency import ResidencyDecision
from chat_service.search import Search
from chat_service.settings import Settings
from chat_service.storage import Database
from chat_service.teams import Teams
from retention.subject import DataSubjectRequests


@dataclass
class Services:
    """Everything a handler may call, built once at start-up."""

    settings: Settings
    db: Database
    conversations: Conversations
    accounts: Accounts
    audit: AuditLog
    presence: Presence
    hmac_keys: HmacKeys
    sio: socketio.AsyncServer
    residency: ResidencyDecision
    privacy: DataSubjectRequests
    outbox: Outbox
    webhooks: Webhooks
    bots: BotRunner
    bot_admin: BotAdmin
    teams: Teams
    search: Search
    reports: Reports
    attachments: Attachments


SETTINGS = web.AppKey("settings", Settings)
SERVICES = web.AppKey("services", Services)
SIO = web.AppKey("sio", socketio.AsyncServer)
