"""Chatbots: the built-in bot (greeting, office hours, FAQ), external Rasa REST and webhook bots,
and the hand-over to people. The runner answers visitors in the background, never on their ack."""

from chat_service.bots.config import BotRegistry, SiteBot
from chat_service.bots.external import BotClient, BotFailed
from chat_service.bots.runner import BotEvents, BotRunner

__all__ = ["BotClient", "BotEvents", "BotFailed", "BotRegistry", "BotRunner", "SiteBot"]
