"""Errors a client of the API can cause, each with a stable code.

The HTTP layer maps :class:`RequestError` to a status and a body: ``{"error": {"code",
"message"}}`` on /v1, and smsoffice.ge's numeric ``ErrorCode`` on the compatible API (see
:mod:`mesiji.web.smsoffice`). Codes never change meaning once published.
"""

from __future__ import annotations

from enum import StrEnum

from mesiji.errors import MesijiError


class ErrorCode(StrEnum):
    """Stable codes of refused requests, with the HTTP status each maps to."""

    unauthorized = "unauthorized"  # 401: an unknown or revoked key
    key_missing = "key_missing"  # 401: no key at all
    api_disabled = "api_disabled"  # 403
    invalid_request = "invalid_request"  # 400: malformed body, wrong types
    unknown_field = "unknown_field"  # 400
    body_too_large = "body_too_large"  # 413
    unsupported_media_type = "unsupported_media_type"  # 415
    no_content = "no_content"  # 400: empty text
    content_missing = "content_missing"  # 400
    too_long = "too_long"  # 400: more parts than the channel carries
    destination_missing = "destination_missing"  # 400
    no_numbers = "no_numbers"  # 400: an empty destination list
    no_valid_numbers = "no_valid_numbers"  # 400: every number invalid
    stop_listed = "stop_listed"  # 400: every number on the stop list
    sender_missing = "sender_missing"  # 400
    sender_invalid = "sender_invalid"  # 400: not a sender ID or number
    sender_not_found = "sender_not_found"  # 400
    sender_inactive = "sender_inactive"  # 400: not (yet) authorized by the operators
    insufficient_balance = "insufficient_balance"  # 402
    invalid_send_at = "invalid_send_at"  # 400
    invalid_validity = "invalid_validity"  # 400
    idempotency_conflict = "idempotency_conflict"  # 409
    not_found = "not_found"  # 404
    too_many_requests = "too_many_requests"  # 429
    unavailable = "unavailable"  # 503: storage locked, full or unreachable
    invalid_text = "invalid_text"  # 400: NUL or a lone surrogate in the text
    invalid_reference = "invalid_reference"  # 400: too long, NUL or a lone surrogate
    invalid_callback_url = "invalid_callback_url"  # 400: unusable, or a destination not allowed
    invalid_idempotency_key = "invalid_idempotency_key"  # 400: too long, NUL or a surrogate
    unstorable = "unstorable"  # 400: a value the database refused; nothing was stored
    not_cancellable = "not_cancellable"  # 409: a part was handed to a dispatcher, or it ended
    internal_error = "internal_error"  # 500: a fault of the gateway, never of the request

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS.get(self, 400)


_HTTP_STATUS = {
    ErrorCode.unauthorized: 401,
    ErrorCode.key_missing: 401,
    ErrorCode.api_disabled: 403,
    ErrorCode.body_too_large: 413,
    ErrorCode.unsupported_media_type: 415,
    ErrorCode.insufficient_balance: 402,
    ErrorCode.idempotency_conflict: 409,
    ErrorCode.not_found: 404,
    ErrorCode.too_many_requests: 429,
    ErrorCode.unavailable: 503,
    ErrorCode.not_cancellable: 409,
    ErrorCode.internal_error: 500,
}


class RequestError(MesijiError):
    """A request refused for a reason the client can fix (or wait out, when transient)."""

    def __init__(self, code: ErrorCode, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.transient = code in (ErrorCode.unavailable, ErrorCode.too_many_requests)
        #: Whole seconds to wait before retrying (the Retry-After header), when known.
        self.retry_after = retry_after
