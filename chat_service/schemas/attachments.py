"""The text fields of an attachment upload (multipart/form-data); the file itself is checked by content."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from chat_service.schemas.http import OPTIONAL, NotNull
from chat_service.schemas.parse import Body
from chat_service.validation import CLIENT_ID

ClientId = Annotated[
    str,
    Field(
        pattern=CLIENT_ID.pattern,
        description="1-64 of A-Z a-z 0-9 _ -; a resend with the same id stores the file once",
    ),
]


class AttachmentForm(Body):
    client_id: Annotated[ClientId | None, NotNull] = OPTIONAL
