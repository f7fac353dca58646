"""The JSON module python-socketio decodes event packets with: `jsonbody.loads`' bounds, no crash.

A refused payload cannot raise here (the packet would be dropped unanswered), so it decodes to
`[event, RejectedPayload]`: the namespace then answers the event's ack with `invalid_input`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from chat_service.errors import InvalidInput
from chat_service.schemas.jsonbody import loads as bounded_loads

dumps = json.dumps
_EVENT = re.compile(r'\[\s*"([A-Za-z_][A-Za-z0-9_]{0,63})"')


@dataclass(frozen=True)
class RejectedPayload:
    reason: str


def loads(text: str | bytes) -> object:
    try:
        return bounded_loads(text)
    except InvalidInput as exc:
        raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        event = _EVENT.match(raw[:200])
        return [event.group(1) if event else "invalid", RejectedPayload(exc.message)]
