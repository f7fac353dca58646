"""Bot turns: after a visitor's message is acknowledged, the site's bot answers it, in the background.

Never on the visitor's path: `schedule` returns at once. A turn re-reads the conversation and does
nothing unless it is still with the bot, and checks again before each reply is queued, so the bot
never talks after a hand-over. Replies go through the write pipeline like an agent's, with client
ids derived from the message they answer: a turn run twice stores its replies once.

Crash safety: a turn that never finished (the process died, the bot never answered) leaves a
conversation in `bot` whose last message is the visitor's; `sweep` finds those older than the bot
timeout and hands them to people (`timeout`). Every node sweeps; one hand-over wins.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from chat_service.bots.builtin import BotMessage, decide
from chat_service.bots.config import BotRegistry, SiteBot
from chat_service.bots.external import BotClient, BotFailed, Outgoing, ask_rasa, bot_sender, outgoing
from chat_service.bots.texts import DISCLOSURE, HANDED_OVER, OFFLINE_DEFAULT, asks_for_person, language_of
from chat_service.conversations import Conversations, MessageView
from chat_service.crypto import HmacKeys
from chat_service.errors import ChatError, Conflict, NotFound
from chat_service.logging import get_logger
from chat_service.models import Conversation
from chat_service.storage import Database

log = get_logger(__name__)
SWEEP_EVERY_S = 5.0
# Beyond the bot timeout before a silent turn counts as lost (a slow pipeline, clock skew).
SWEEP_GRACE = timedelta(seconds=5)
SWEEP_WINDOW = timedelta(days=1)
BOT_MESSAGE_EVENT = "bot.message"


class BotEvents(Protocol):
    """How the runner tells people (the sockets layer implements it)."""

    async def message(self, view: MessageView) -> None: ...

    async def handed_over(self, conv: Conversation) -> None: ...


@dataclass(frozen=True)
class Reply:
    messages: tuple[BotMessage, ...] = ()
    handover: str | None = None  # the reason, when the turn ends with a hand-over
    answered: bool = True


class BotRunner:
    def __init__(
        self,
        conversations: Conversations,
        bots: BotRegistry,
        events: BotEvents,
        *,
        db: Database,
        hmac_keys: HmacKeys,
        client: BotClient,
        timeout_s: float = 5.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._conversations = conversations
        self._bots = bots
        self._events = events
        self._db = db
        self._hmac = hmac_keys
        self._client = client
        self._timeout = timeout_s
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def registry(self) -> BotRegistry:
        return self._bots

    def starts_with_bot(self, site_id: str | None) -> bool:
        return self._bots.get(site_id) is not None

    # --- turns -----------------------------------------------------------------------------------

    def schedule(self, conversation_id: str, message: MessageView) -> None:
        """Answer `message` in the background (the visitor's ack does not wait)."""
        task = asyncio.create_task(self._turn_logged(conversation_id, message), name="bot-turn")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _turn_logged(self, conversation_id: str, message: MessageView) -> None:
        try:
            await self.turn(conversation_id, message)
        except NotFound:
            pass  # erased meanwhile
        except ChatError as exc:  # the database or the pipeline refused (overload, shutting down)
            log.warning("bot_turn_failed", conversation_id=conversation_id, code=exc.code)
        except Exception:
            # The sweep hands the conversation over if this left it waiting on the bot.
            log.exception("bot_turn_failed", conversation_id=conversation_id)

    async def turn(self, conversation_id: str, message: MessageView) -> None:
        """One bot turn for one visitor message (one at a time per conversation on this node)."""
        lock = self._locks.setdefault(conversation_id, asyncio.Lock())
        try:
            async with lock:
                await self._turn(conversation_id, message)
        finally:
            if not lock.locked() and self._locks.get(conversation_id) is lock:
                del self._locks[conversation_id]

    async def _turn(self, conversation_id: str, message: MessageView) -> None:
        conv = await self._conversations.get(conversation_id)
        if conv.status != "bot":
            return  # handed over, claimed or closed: the bot stays silent
        await self._bots.refresh()
        bot = self._bots.get(conv.site_id)
        visitor = await self._conversations.visitor_fields(conv)
        language = language_of(visitor.get("language")) if visitor.get("language") else None
        if bot is None:
            await self.hand_over(conv.id, "error", language or "en")
            return
        try:
            async with asyncio.timeout(self._timeout):
                reply, language = await self._answer(bot, conv, message, visitor, language)
        except TimeoutError:
            log.info("bot_timeout", conversation_id=conv.id, site_id=conv.site_id)
            reply = Reply(handover="timeout")
        except BotFailed as exc:
            log.info("bot_failed", conversation_id=conv.id, site_id=conv.site_id, error=str(exc))
            reply = Reply(handover="error")
        lang = language or "en"
        if not bot.external:
            misses = await self._conversations.count_bot_turn(conv.id, answered=reply.answered)
            if reply.handover is None and misses >= bot.config.max_misses:
                reply = Reply(handover="misses")
        if reply.handover in ("misses", "request") and not bot.within_hours(self._clock()):
            reply = Reply(reply.messages, "offline")
        await self._say(bot, conv.id, message.id, reply.messages, lang)
        if reply.handover is not None:
            await self.hand_over(conv.id, reply.handover, lang, bot)

    async def _answer(
        self, bot: SiteBot, conv: Conversation, message: MessageView, visitor: dict[str, str], language: str | None
    ) -> tuple[Reply, str | None]:
        if asks_for_person(message.text):
            return Reply(handover="request"), language
        config = bot.config
        if config.type == "builtin":
            turn = decide(bot, message.text, language)
            if turn.decision == "handover":
                return Reply(handover="request"), turn.language
            return Reply(turn.messages, answered=turn.answered), turn.language
        assert config.url is not None
        sent = outgoing(
            message.text,
            visitor,
            sender=bot_sender(self._hmac, conv.id),
            redact_text=config.redact,
            share=config.share,
        )
        if config.type == "rasa":
            messages, handover = await ask_rasa(self._client, config.url, sent)
            return Reply(tuple(messages), "bot" if handover else None), language
        await self._queue_webhook(bot, conv, message, sent)
        return Reply(), language  # the webhook bot answers through the bot-hooks routes

    async def _say(
        self, bot: SiteBot, conversation_id: str, answering: str, messages: tuple[BotMessage, ...], lang: str
    ) -> None:
        disclose = bool(messages) and not await self._conversations.bot_spoke(conversation_id)
        for index, item in enumerate(messages):
            current = await self._conversations.get(conversation_id)
            if current.status != "bot":
                return  # taken over while the bot was answering
            text = f"{DISCLOSURE[lang]}\n\n{item.text}" if disclose and index == 0 else item.text
            await self.post(bot, conversation_id, f"b-{answering}-{index}", text, item.buttons)

    async def say_once(
        self,
        bot: SiteBot,
        conversation_id: str,
        client_id: str,
        text: str,
        buttons: tuple[dict[str, str], ...],
        language: str,
    ) -> MessageView:
        """One message from outside a turn (a webhook bot's reply): only while the bot has it."""
        current = await self._conversations.get(conversation_id)
        if current.status != "bot":
            raise Conflict("This conversation was handed over; the bot may not answer in it.")
        if not await self._conversations.bot_spoke(conversation_id):
            text = f"{DISCLOSURE[language]}\n\n{text}"
        return await self.post(bot, conversation_id, client_id, text, buttons)

    async def post(
        self, bot: SiteBot, conversation_id: str, client_id: str, text: str, buttons: tuple[dict[str, str], ...] = ()
    ) -> MessageView:
        view, _ = await self._conversations.bot_send(
            conversation_id, client_id, text, bot.identity, buttons, announce=self._events.message
        )
        return view

    async def hand_over(
        self, conversation_id: str, reason: str, language: str, bot: SiteBot | None = None
    ) -> Conversation | None:
        """Hand to people: the state changes (one hand-over wins), then the bot's last word."""
        changed = await self._conversations.hand_over(conversation_id, reason)
        if changed is None:
            return None
        log.info("bot_handed_over", conversation_id=conversation_id, reason=reason)
        bot = bot or self._bots.get(changed.site_id)
        if reason != "agent" and bot is not None:
            notice = HANDED_OVER[language]
            if reason == "offline":
                hours = bot.config.hours
                notice = (
                    hours.offline_reply.get(language) if hours and hours.offline_reply else OFFLINE_DEFAULT[language]
                )
            if not await self._conversations.bot_spoke(conversation_id):
                notice = f"{DISCLOSURE[language]}\n\n{notice}"
            # One hand-over per conversation: a fixed client id keeps a repeat from saying it twice.
            await self.post(bot, conversation_id, "handover", notice)
        await self._events.handed_over(changed)
        return changed

    # --- webhook bots ------------------------------------------------------------------------------

    async def _queue_webhook(self, bot: SiteBot, conv: Conversation, message: MessageView, sent: Outgoing) -> None:
        """The visitor's message to a webhook bot: an outbox delivery, signed and retried like webhooks."""
        token = await self._db.bots.token(bot.site_id)
        if token is None or token.endpoint_id is None:
            raise BotFailed("the webhook bot has no token yet (POST /api/bots/{site_id}/token)")
        await self._db.conversations.set_bot_sender(conv.id, sent.sender)
        data = {"sender": sent.sender, "message_id": message.id, "text": sent.message, "metadata": sent.metadata}
        await self._conversations.queue_bot_event(conv.id, token.endpoint_id, BOT_MESSAGE_EVENT, data)

    # --- crash safety ------------------------------------------------------------------------------

    async def sweep(self) -> int:
        """Hand over conversations left waiting on the bot longer than its timeout (a lost turn).

        Looks back `SWEEP_WINDOW` (a day): conversations the bot answered and the visitor left stay
        in `bot`, so the window keeps each sweep to two bounded queries however many pile up.
        """
        # The conversations' last message and clock are folded in behind the messages (a stale
        # clock only adds a candidate): the last message itself is read from `messages` below.
        now = self._clock()
        before = now - timedelta(seconds=self._timeout) - SWEEP_GRACE
        candidates = [
            c
            for c in await self._db.conversations.with_bot_between(now - SWEEP_WINDOW, before)
            if c.id not in self._locks and c.last_message_id is not None  # not while a turn runs here
        ]
        if not candidates:
            return 0
        # The last message: from `messages` where one is as new as the conversation's clock (a
        # message another node has not folded in yet), else the one the conversation names.
        newest = await self._db.messages.newest_since({c.id: c.last_activity_at for c in candidates})
        named = [c.last_message_id for c in candidates if c.id not in newest and c.last_message_id]
        last = list(newest.values()) + (await self._db.messages.by_ids(named) if named else [])
        waiting = {m.conversation_id for m in last if m.sender == "visitor" and m.created_at < before}
        count = 0
        for conv in candidates:
            if conv.id not in waiting:
                continue
            visitor = await self._conversations.visitor_fields(conv)
            if await self.hand_over(conv.id, "timeout", language_of(visitor.get("language"))) is not None:
                count += 1
        return count

    async def run_sweeper(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            try:
                await self._bots.refresh()
                await self.sweep()
            except ChatError as exc:
                log.warning("bot_sweep_failed", code=exc.code)
            except Exception:
                log.exception("bot_sweep_failed")

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
