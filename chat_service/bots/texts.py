"""What the bots say that no configuration may change: the AI Act notice, hand-over notices, label."""

from __future__ import annotations

import re
import unicodedata

# EU AI Act Art. 50(1): people are told they interact with an AI system, at the first interaction.
DISCLOSURE = {
    "en": "You are chatting with an automated assistant, not a person. Ask for a person at any time.",
    "nl": "Je chat met een geautomatiseerde assistent, niet met een mens. Vraag op elk moment naar een medewerker.",
}
LABEL = {"en": "Automated assistant", "nl": "Geautomatiseerde assistent"}
HANDED_OVER = {
    "en": "I am passing you to a person; someone from the team will answer here.",
    "nl": "Ik geef je door aan een medewerker; iemand van het team antwoordt hier.",
}
OFFLINE_DEFAULT = {
    "en": "We are not available right now. Leave your question here and we will answer as soon as we are back.",
    "nl": "We zijn nu niet bereikbaar. Laat je vraag hier achter, dan antwoorden we zodra we terug zijn.",
}
NOT_SURE = {
    "en": "I am not sure I understood. Did you mean one of these?",
    "nl": "Ik weet niet zeker of ik je begrijp. Bedoel je een van deze?",
}
DID_NOT_UNDERSTAND = {
    "en": "Sorry, I do not know the answer to that. Could you put it another way?",
    "nl": "Sorry, daar weet ik het antwoord niet op. Kun je het anders zeggen?",
}
# A whole message asking for a person (after normalising): a hand-over request, as the button is.
_ASK_FOR_PERSON = re.compile(
    r"^(?:(?:i want|i would like|can i|let me|please)?\s*(?:talk|speak|chat)?\s*(?:to|with)?\s*"
    r"(?:a |an )?(?:person|human|agent|someone|people|operator|employee|real person)|"
    r"(?:ik wil)?\s*(?:graag)?\s*(?:praten|spreken|chatten)?\s*(?:met)?\s*(?:een )?"
    r"(?:mens|medewerker|persoon|iemand))\s*(?:please|graag|alstublieft|aub|a\.u\.b\.)?[.!?]*$"
)


def language_of(value: str | None) -> str:
    """The bots speak English and Dutch: `nl`, `nl-BE`, ... are Dutch, anything else English."""
    return "nl" if value and value.lower().split("-")[0] == "nl" else "en"


def fold(text: str) -> str:
    """Lower case without accents, single spaces: what matching compares."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.split())


def asks_for_person(text: str) -> bool:
    return bool(_ASK_FOR_PERSON.fullmatch(fold(text)))
