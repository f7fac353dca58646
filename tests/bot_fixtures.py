"""A built-in bot configuration the bot tests share (en + nl FAQ, office hours in Europe/Amsterdam)."""

from __future__ import annotations

from typing import Any

FAQ: list[dict[str, Any]] = [
    {
        "question": {"en": "What are your opening hours?", "nl": "Wat zijn jullie openingstijden?"},
        "answer": {"en": "Monday to Friday, 9:00 to 17:00.", "nl": "Maandag tot en met vrijdag, 9:00 tot 17:00."},
    },
    {
        "question": {"en": "How much does shipping cost?", "nl": "Wat kost de verzending?"},
        "answer": {"en": "Shipping is free above 50 euro.", "nl": "Verzending is gratis boven 50 euro."},
    },
    {
        "question": {"en": "How do I return an order?", "nl": "Hoe kan ik een bestelling retourneren?"},
        "answer": {"en": "Use the return form within 30 days.", "nl": "Gebruik binnen 30 dagen het retourformulier."},
    },
    {
        "question": {"en": "How long does delivery take?", "nl": "Hoe lang duurt de levering?"},
        "answer": {"en": "Delivery takes 1 to 2 working days.", "nl": "Levering duurt 1 tot 2 werkdagen."},
    },
    {
        "question": {"en": "Which payment methods do you accept?", "nl": "Welke betaalmethodes accepteren jullie?"},
        "answer": {"en": "iDEAL, credit card and PayPal.", "nl": "iDEAL, creditcard en PayPal."},
    },
    {
        "question": {
            "en": "Where is my parcel? How can I track my order?",
            "nl": "Waar is mijn pakket? Hoe volg ik mijn bestelling?",
        },
        "answer": {
            "en": "Follow the track-and-trace link in your e-mail.",
            "nl": "Volg de track-and-trace-link in je e-mail.",
        },
    },
]

HOURS: dict[str, Any] = {
    "timezone": "Europe/Amsterdam",
    "weekly": {
        "mon": ["09:00-17:00"],
        "tue": ["09:00-17:00"],
        "wed": ["09:00-17:00"],
        "thu": ["09:00-17:00"],
        "fri": ["09:00-17:00"],
        "sun": ["10:00-12:00"],
    },
    "holidays": ["2026-12-25"],
    "offline_reply": {
        "en": "We are closed now; we answer from 9:00.",
        "nl": "We zijn nu gesloten; we antwoorden vanaf 9:00.",
    },
}


def builtin_config(**changes: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "type": "builtin",
        "name": "Shopbot",
        "version": "3",
        "greeting": {"en": "Hi! Ask me anything.", "nl": "Hoi! Stel gerust je vraag."},
        "faq": FAQ,
        "max_misses": 2,
    }
    config.update(changes)
    return config
