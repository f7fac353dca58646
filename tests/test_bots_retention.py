"""Bot messages under the retention job: pseudonymisation redacts their text like any message's
and drops their quick-reply buttons (live-chat only) instead of leaving them under a dead key."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import SecantusProcess
from tests.retention_helpers import NOW, RetentionEnv, Visitor, days_ago


async def test_pseudonymisation_redacts_bot_messages_and_drops_their_buttons(
    secantus: SecantusProcess, tmp_path: Path
) -> None:
    renv = RetentionEnv(secantus.uri, tmp_path / "retention")
    async with renv.open() as (_, seed):
        conversation_id = await seed.conversation(
            days_ago(40), ["Ik ben Canary Sevenfour"], visitor=Visitor(name="Canary Sevenfour")
        )
        await seed.conversations.bot_send(
            conversation_id,
            "b-1",
            "Hallo Canary Sevenfour, bedoel je een van deze?",
            {"name": "Shopbot", "version": "3"},
            [{"title": "Openingstijden", "payload": "Wat zijn jullie openingstijden?"}],
        )
        result = renv.retention("run", "--now", NOW.isoformat())
        assert result.returncode == 0, result.stderr
        _, _, messages = await seed.reader().open(conversation_id)
    bot = next(m for m in messages if m.sender == "bot")
    wire = bot.to_wire()
    assert wire["text"] == "Hallo [name], bedoel je een van deze?"
    assert wire["bot"] == {"name": "Shopbot", "version": "3"}
    assert "buttons" not in wire and not bot.unreadable
    assert "buttons" not in renv.raw().messages.find_one({"_id": bot.id})
