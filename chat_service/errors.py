"""One exception hierarchy: each error carries a machine-readable code and a human message.

Handlers translate these into socket error acknowledgements and HTTP problem responses in one
place (`sockets/base.py`, `api/problems.py`); nothing else formats errors for the wire.
"""

from __future__ import annotations

from typing import Any


class ChatError(Exception):
    """Base of every error we report to a client."""

    code = "internal_error"
    http_status = 500
    default_message = "Something went wrong on our side."

    def __init__(self, message: str | None = None, *, details: dict[str, Any] | None = None):
        self.message = message or self.default_message
        self.details = details or {}
        super().__init__(self.message)

    def to_wire(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class InvalidInput(ChatError):
    code = "invalid_input"
    http_status = 400
    default_message = "The request is not valid."


class UnknownEvent(InvalidInput):
    code = "unknown_event"
    default_message = "Unknown event."


class TextTooLong(InvalidInput):
    code = "text_too_long"


class ConfirmationRequired(InvalidInput):
    code = "confirmation_required"
    default_message = "This cannot be undone: confirm it explicitly."


class Unauthenticated(ChatError):
    code = "unauthenticated"
    http_status = 401
    default_message = "Sign in first."


class InvalidCredentials(ChatError):
    code = "invalid_credentials"
    http_status = 401
    default_message = "E-mail or password is wrong."


class PasswordChangeRequired(ChatError):
    code = "password_change_required"
    http_status = 403
    default_message = "Choose a new password before you continue."


class TooManyAttempts(ChatError):
    code = "too_many_attempts"
    http_status = 429
    default_message = "Too many failed sign-ins; wait a moment and try again."

    def __init__(self, retry_after: int):
        super().__init__(details={"retry_after": retry_after})
        self.retry_after = retry_after


class InvalidToken(ChatError):
    code = "invalid_token"
    http_status = 403
    default_message = "This conversation token is not valid or has expired."


class Forbidden(ChatError):
    code = "forbidden"
    http_status = 403
    default_message = "You may not do this."


class NotFound(ChatError):
    code = "not_found"
    http_status = 404
    default_message = "Not found."


class Conflict(ChatError):
    code = "conflict"
    http_status = 409
    default_message = "The request conflicts with the current state."


class ConversationClosed(Conflict):
    code = "conversation_closed"
    default_message = "This conversation is closed."


class EmailUnavailable(Conflict):
    """Nothing can be e-mailed here: SMTP is not set up, or the visitor gave no address."""

    code = "email_unavailable"
    default_message = "E-mail is not available for this conversation."


class StorageUnavailable(ChatError):
    code = "unavailable"
    http_status = 503
    default_message = "The message could not be stored right now; please retry."


class Overloaded(StorageUnavailable):
    """The write queue is full in time: resend (same `client_id`) after `details.retry_after` seconds."""

    default_message = "The service is busy; please resend this message in a moment."

    def __init__(self, retry_after: int):
        super().__init__(details={"retry_after": retry_after})
        self.retry_after = retry_after


class DecryptionFailed(ChatError):
    """Raised when a ciphertext does not authenticate (tampered, moved or wrong key)."""

    code = "decryption_failed"
    http_status = 500
    default_message = "Stored data failed its integrity check."


class PayloadTooLarge(ChatError):
    code = "payload_too_large"
    http_status = 413
    default_message = "The request body is too large."


class MethodNotAllowed(ChatError):
    code = "method_not_allowed"
    http_status = 405
    default_message = "This method is not allowed here."


class SecondFactorRequired(ChatError):
    """The password was right; the session still owes its second factor."""

    code = "second_factor_required"
    http_status = 401
    default_message = "Enter the code from your authenticator app."


class InvalidSecondFactor(ChatError):
    code = "invalid_second_factor"
    http_status = 401
    default_message = "That code is not valid (or was used already)."


class SecondFactorSetupRequired(ChatError):
    code = "second_factor_setup_required"
    http_status = 403
    default_message = "Set up two-factor sign-in before you continue."


class ForbiddenOrigin(ChatError):
    code = "forbidden_origin"
    http_status = 403
    default_message = "Requests from this origin are not allowed here."


class RateLimited(ChatError):
    """An abuse limit was reached; `retry_after` (seconds) says when the same request will pass."""

    code = "rate_limited"
    http_status = 429
    default_message = "Too many requests; please wait a moment and try again."

    def __init__(self, retry_after: int, message: str | None = None, *, limit: str = "other"):
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after
        self.limit = limit  # which limit (a metrics label from a fixed set)


class UnsupportedFile(ChatError):
    """An attachment that is not, by its content, one of the accepted kinds (or cannot be read as one)."""

    code = "unsupported_file"
    http_status = 415
    default_message = "Only images (JPEG, PNG, WebP, GIF) and PDF files can be attached."
