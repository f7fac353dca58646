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
# A message made only of these words, one of them from the first set, asks for a person (as the
# "Talk to a person" button does): "person", "I want to talk to a human", "ik wil graag een medewerker".
_PERSON_TEXT = (
    "person human agent someone somebody people operator employee staff mens mensen medewerker persoon iemand"
)
_FILLER_TEXT = (
    "i want would like to talk speak chat with a an the real please can could let me get connect contact "
    "ik wil graag praten spreken chatten met een echte echt alstublieft aub kan mag"
)
_PERSON = frozenset(_PERSON_TEXT.split())
_FILLER = frozenset(_FILLER_TEXT.split())
_WORDS = re.compile(r"[a-z]+")


def language_of(value: str | None) -> str:
    """The bots speak English and Dutch: `nl`, `nl-BE`, ... are Dutch, anything else English."""
    return "nl" if value and value.lower().split("-")[0] == "nl" else "en"


def fold(text: str) -> str:
    """Lower case without accents, single spaces: what matching compares."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.split())


def asks_for_person(text: str) -> bool:
    words = set(_WORDS.findall(fold(text)))
    return bool(words & _PERSON) and words <= _PERSON | _FILLER
