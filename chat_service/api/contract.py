"""The route table: each REST route named once, with what the OpenAPI document needs to describe it.

`ApiRoutes` is an aiohttp `RouteTableDef` (so `app.add_routes(table)` is unchanged) whose
decorators also record an `Operation`: method, path, summary, who may call it, the body and
query models (which the handler validates with `parse_body` / `parse_query`) and the error
statuses it answers. `chat_service.api.openapi` turns the operations into the document.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from chat_service.schemas import Body

# none: anyone; user: a signed-in agent or admin; admin: admins only; any_session: a signed-in user
# even while they must still change their password; visitor_or_user: a conversation's visitor (its
# token as a bearer token) or a signed-in agent.
Access = Literal["none", "user", "admin", "any_session", "visitor_or_user"]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_PARAM = re.compile(r"\{(\w+)(?::([^{}]*(?:\{[^{}]*\}[^{}]*)*))?\}")
Handler = Callable[[web.Request], object]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # as aiohttp routes it, e.g. /api/canned/{item_id:r[0-9a-f]{16}}
    summary: str
    access: Access = "user"
    body: type[Body] | None = None
    query: type[Body] | None = None
    statuses: tuple[int, ...] = ()
    ok_status: int = 200
    ok: str = "OK"
    ok_type: str = "application/json"
    # A multipart/form-data body: these fields plus a binary `file` (instead of a JSON `body`).
    form: type[Body] | None = None

    @property
    def csrf(self) -> bool:
        return self.access != "none" and self.method not in SAFE_METHODS

    @property
    def openapi_path(self) -> str:
        return _PARAM.sub(lambda m: "{" + m.group(1) + "}", self.path)

    @property
    def path_params(self) -> dict[str, str | None]:
        """Parameter name -> its pattern (anchored), or None when any segment is routed."""
        return {m.group(1): (f"^{m.group(2)}$" if m.group(2) else None) for m in _PARAM.finditer(self.path)}


class ApiRoutes(web.RouteTableDef):
    """`@routes.api("POST", "/api/x", "Summary", body=XBody)` registers a handler and documents it."""

    def __init__(self) -> None:
        super().__init__()
        self.operations: list[Operation] = []

    def api(
        self,
        method: str,
        path: str,
        summary: str,
        *,
        access: Access = "user",
        body: type[Body] | None = None,
        query: type[Body] | None = None,
        statuses: tuple[int, ...] = (),
        ok_status: int = 200,
        ok: str = "OK",
        ok_type: str = "application/json",
        form: type[Body] | None = None,
    ) -> Callable[[Handler], Handler]:
        operation = Operation(method, path, summary, access, body, query, statuses, ok_status, ok, ok_type, form)

        def register(handler: Handler) -> Handler:
            self.operations.append(operation)
            return self.route(method, path)(handler)  # type: ignore[arg-type]

        return register

    def document(self, operation: Operation) -> None:
        """Describe a route whose handler another module registers (e.g. the widget's)."""
        self.operations.append(operation)
