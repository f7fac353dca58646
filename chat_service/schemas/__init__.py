"""The shapes of what clients send: bounded JSON parsing and the pydantic models of HTTP bodies.

The same models validate requests and generate the OpenAPI document (`chat_service.api.openapi`).
"""

from chat_service.schemas import socket_json
from chat_service.schemas.jsonbody import MAX_BODY_BYTES, MAX_DEPTH, loads
from chat_service.schemas.parse import Body, validate

__all__ = ["MAX_BODY_BYTES", "MAX_DEPTH", "Body", "loads", "socket_json", "validate"]
