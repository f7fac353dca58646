"""Standard Webhooks signing through the reference library (`standardwebhooks`), and endpoint secrets."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh `whsec_…` secret (256 random bits, base64, as the spec describes)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def sign_headers(delivery_id: str, at: datetime, body: str, active_secrets: Sequence[str]) -> dict[str, str]:
    """The three Standard Webhooks headers; one signature per secret (two while a rotation overlaps)."""
    signatures = " ".join(Webhook(secret).sign(delivery_id, at, body) for secret in active_secrets)
    return {
        "webhook-id": delivery_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
    }
