"""The built-in bot's decision for one visitor message: answer, offer buttons, or not know.

A plain function of the site's bot, the text and the language, so the admin API's "test a
question" and the live bot decide alike (and the test stores nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from chat_service.bots.config import SiteBot
from chat_service.bots.faq import Ranked
from chat_service.bots.texts import DID_NOT_UNDERSTAND, NOT_SURE, asks_for_person

TurnDecision = Literal["answer", "suggest", "miss", "handover"]


@dataclass(frozen=True)
class BotMessage:
    text: str
    buttons: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True)
class BuiltinTurn:
    decision: TurnDecision
    messages: tuple[BotMessage, ...]
    ranking: list[Ranked] = field(default_factory=list)
    language: str = "en"

    @property
    def answered(self) -> bool:
        return self.decision == "answer"


def decide(bot: SiteBot, text: str, language: str | None) -> BuiltinTurn:
    """What the built-in bot says to `text`; `language` None: the language of the best match."""
    if asks_for_person(text):
        return BuiltinTurn("handover", (), [], language or "en")
    if bot.faq is None:
        return BuiltinTurn("miss", (BotMessage(DID_NOT_UNDERSTAND[language or "en"]),), [], language or "en")
    config = bot.config
    match = bot.faq.match(text, answer_at=config.answer_threshold, suggest_at=config.suggest_threshold)
    lang = language or (match.ranking[0].language if match.ranking and match.ranking[0].confidence > 0 else "en")
    if match.decision == "answer":
        entry = config.faq[match.chosen[0]]
        return BuiltinTurn("answer", (BotMessage(entry.answer.get(lang)),), match.ranking, lang)
    if match.decision == "suggest":
        buttons = tuple(
            {"title": q[:80], "payload": q[:500]} for q in (config.faq[i].question.get(lang) for i in match.chosen)
        )
        return BuiltinTurn("suggest", (BotMessage(NOT_SURE[lang], buttons),), match.ranking, lang)
    return BuiltinTurn("miss", (BotMessage(DID_NOT_UNDERSTAND[lang]),), match.ranking, lang)
