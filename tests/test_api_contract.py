"""One source of truth: the route table, the served OpenAPI document, docs/protocol.md and the
request models agree (in process; tests/test_http_contract.py checks the live server)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from chat_service.api.openapi import SPEC
from chat_service.app import create_app
from chat_service.errors import ChatError
from chat_service.schemas import Body, validate
from chat_service.schemas.http import (
    BreachWindowBody,
    CannedBody,
    EraseBody,
    LoginBody,
    NewUserBody,
    SubjectQueryBody,
    UserChangesBody,
)
from chat_service.settings import Settings

REPO = Path(__file__).resolve().parent.parent
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
DOCUMENTED_OUTSIDE_API = {"/healthz", "/readyz", "/.well-known/security.txt"}


def _normalise(path: str) -> str:
    """`/api/users/{user_id:u[0-9a-f]{24}}` and `/api/users/{id}` both become `/api/users/{}`."""
    return re.sub(r"\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}", "{}", path.split("?")[0])


def spec_routes() -> set[tuple[str, str]]:
    return {(method.upper(), _normalise(path)) for path, item in SPEC["paths"].items() for method in item}


def test_every_served_route_is_in_the_openapi_document_and_back() -> None:
    app = create_app(Settings(dev=True))
    served = {
        (route.method, _normalise(route.resource.canonical))
        for route in app.router.routes()
        if route.method in METHODS
        and route.resource is not None
        and (route.resource.canonical.startswith("/api/") or route.resource.canonical in DOCUMENTED_OUTSIDE_API)
    }
    assert served == spec_routes()


def protocol_routes() -> set[tuple[str, str]]:
    text = (REPO / "docs" / "protocol.md").read_text()
    return {
        (method, _normalise(path))
        for method, path in re.findall(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`\s]*)`", text)
        if path.startswith(("/api/", "/healthz", "/readyz", "/.well-known/"))
    }


def test_every_route_in_the_openapi_document_is_in_protocol_md_and_back() -> None:
    documented = protocol_routes()
    assert spec_routes() - documented == set(), "in the OpenAPI document, missing from docs/protocol.md"
    assert documented - spec_routes() == set(), "in docs/protocol.md, not served"


def _schema_of(model: type[Body]) -> Any:
    schema = SPEC["components"]["schemas"][model.__name__]
    return jsonschema_rs.validator_for({**schema, "components": SPEC["components"]})


# (model, body, accepted): the served schema and the server's validation must give the same verdict.
CASES: list[tuple[type[Body], Any, bool]] = [
    (LoginBody, {"email": "", "password": "x"}, False),
    (LoginBody, {"email": "   ", "password": "x"}, False),
    (LoginBody, {"email": " Anna@Example.eu ", "password": "x"}, True),
    (LoginBody, {"email": "a@b.eu", "password": ""}, False),
    (NewUserBody, {"email": "", "role": "agent"}, False),
    (NewUserBody, {"email": "a@b.eu", "role": "owner"}, False),
    (NewUserBody, {"email": "a@b.eu", "role": "agent", "display_name": None}, True),
    (NewUserBody, {"email": "a@b.eu", "role": "agent", "extra": 1}, False),
    (UserChangesBody, {}, False),
    (UserChangesBody, {"role": None}, False),
    (UserChangesBody, {"disabled": True}, True),
    (UserChangesBody, {"disabled": "yes"}, False),
    (UserChangesBody, {"display_name": None}, True),
    (CannedBody, {"shortcut": "hi", "title": "", "text": "Hello"}, False),
    (CannedBody, {"shortcut": "hi", "title": "  ", "text": "Hello"}, False),
    (CannedBody, {"shortcut": "hi", "title": "Hi", "text": " \n "}, False),
    (CannedBody, {"shortcut": "hi", "title": "Hi", "text": "a\x00b"}, False),
    (CannedBody, {"shortcut": "Hi!", "title": "Hi", "text": "Hello"}, False),
    (CannedBody, {"shortcut": "hi-2", "title": "Hi", "text": "x" * 4000}, True),
    (CannedBody, {"shortcut": "hi", "title": "Hi", "text": "x" * 4001}, False),
    (SubjectQueryBody, {}, False),
    (SubjectQueryBody, {"email": "a@b.eu", "conversation_id": "c" + "0" * 24}, False),
    (SubjectQueryBody, {"email": " A@B.eu "}, True),
    (SubjectQueryBody, {"conversation_id": "c" + "0" * 23}, False),
    (SubjectQueryBody, {"email": None}, False),
    (EraseBody, {"conversation_ids": [], "confirm": "ERASE"}, False),
    (EraseBody, {"conversation_ids": ["c" + "a" * 24] * 201, "confirm": "ERASE"}, False),
    (EraseBody, {"conversation_ids": ["c" + "a" * 24], "confirm": "erase"}, False),
    (EraseBody, {"conversation_ids": ["c" + "a" * 24], "confirm": "ERASE"}, True),
    (BreachWindowBody, {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00+01:00"}, True),
    (BreachWindowBody, {"from": "2026-01-01T00:00:00Z"}, False),
    (BreachWindowBody, {"from": 1, "to": 2}, False),
]


@pytest.mark.parametrize(("model", "body", "accepted"), CASES)
def test_schema_and_server_give_the_same_verdict(model: type[Body], body: Any, accepted: bool) -> None:
    assert _schema_of(model).is_valid(body) is accepted
    if accepted:
        validate(model, body)
        return
    with pytest.raises(ChatError) as refused:
        validate(model, body)
    assert refused.value.http_status == 400
    assert refused.value.code in ("invalid_input", "text_too_long", "confirmation_required")


def test_cross_field_rules_are_described_where_json_schema_cannot_state_them() -> None:
    """'to' after 'from' cannot be a JSON Schema keyword: the schema says it and documents the 400."""
    schema = SPEC["components"]["schemas"]["BreachWindowBody"]
    assert "'to' must be after 'from'" in schema["description"]
    assert "400" in SPEC["paths"]["/api/privacy/breach-report"]["post"]["responses"]
    with pytest.raises(ChatError) as refused:
        validate(BreachWindowBody, {"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"})
    assert refused.value.details == {"field": "to"}


def test_every_body_route_documents_400_and_413_and_every_session_route_401() -> None:
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            if "requestBody" in operation:
                assert {"400", "413"} <= set(responses), (method, path)
            if "security" in operation:
                assert {"401", "403"} <= set(responses), (method, path)
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    assert "application/problem+json" in response["content"], (method, path, status)
