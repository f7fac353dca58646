"""The base of every request model, and the one place a pydantic error becomes a `ChatError`.

Errors keep the wire shape clients already know: `invalid_input` naming the field
(`details.field`, or `details.fields` for missing and unknown ones), `text_too_long`, and
`confirmation_required` where a model says so.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from chat_service.errors import ChatError, InvalidInput, TextTooLong

M = TypeVar("M", bound="Body")


class Body(BaseModel):
    """Strict: no type coercion, unknown fields refused, values frozen once parsed."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, regex_engine="python-re")

    # field name -> the error raised when that field holds a wrong value (default: InvalidInput).
    error_codes: ClassVar[dict[str, type[InvalidInput]]] = {}


def _field(error: ErrorDetails) -> str:
    return ".".join(str(part) for part in error["loc"])


def _message(error: ErrorDetails, name: str, description: str | None) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    hint = f" Expected: {description}" if description else ""
    messages = {
        "string_type": f"'{name}' must be a string.",
        "string_too_long": f"'{name}' is longer than {ctx.get('max_length')} characters.",
        "string_pattern_mismatch": f"'{name}' is not in the expected format.{hint}",
        "bool_type": f"'{name}' must be true or false.",
        "int_type": f"'{name}' must be a whole number.",
        "int_parsing": f"'{name}' must be a whole number.",
        "list_type": f"'{name}' must be a list.",
        "literal_error": f"'{name}' must be {ctx.get('expected')}.",
    }
    if kind == "string_too_short":
        least = ctx.get("min_length")
        return f"'{name}' must not be empty." if least == 1 else f"'{name}' must be at least {least} characters."
    if kind in ("greater_than_equal", "less_than_equal", "too_short", "too_long"):
        return f"'{name}' is out of range: {error['msg']}."
    return messages.get(kind) or f"'{name}': {error['msg']}."


def _translate(model: type[Body], exc: ValidationError) -> ChatError:
    errors = exc.errors(include_url=False, include_input=False)
    for kind, label in (("extra_forbidden", "Unknown"), ("missing", "Missing")):
        fields = [_field(e) for e in errors if e["type"] == kind]
        if fields:
            return InvalidInput(f"{label} field(s): {', '.join(fields)[:200]}.", details={"fields": fields[:20]})
    first = errors[0]
    if not first["loc"]:
        if first["type"] in ("model_type", "model_attributes_type", "dict_type"):
            return InvalidInput("Expected an object.")
        return InvalidInput(first["msg"], details=dict(first.get("ctx") or {}))
    name = _field(first)
    top = str(first["loc"][0])
    details: dict[str, Any] = {"field": name}
    if first["type"] == "text_too_long":
        return TextTooLong(first["msg"], details={"field": name, **(first.get("ctx") or {})})
    if first["type"].startswith("chat_"):
        message = first["msg"] if "'" in first["msg"] else f"'{name}': {first['msg']}"
    else:
        info = model.model_fields.get(top)
        message = _message(first, name, info.description if info is not None else None)
    return model.error_codes.get(top, InvalidInput)(message, details=details)


def validate(model: type[M], data: object) -> M:
    """`data` (already parsed JSON) as a `model`, or the `ChatError` to answer."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _translate(model, exc) from None
