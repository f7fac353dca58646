"""Outgoing integrations through a transactional outbox: signed webhooks now, e-mail and bots later."""

from chat_service.outbox.endpoints import EndpointInput, Webhooks, parse_endpoint_input
from chat_service.outbox.events import EVENT_TYPES, OPT_IN_FIELDS, TEST_EVENT, Outbox
from chat_service.outbox.worker import DeliveryWorker, WebhookSender

__all__ = [
    "EVENT_TYPES",
    "OPT_IN_FIELDS",
    "TEST_EVENT",
    "DeliveryWorker",
    "EndpointInput",
    "Outbox",
    "WebhookSender",
    "Webhooks",
    "parse_endpoint_input",
]
