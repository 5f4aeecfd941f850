"""The API's error responses: one exception carrying status, body fields and headers.

Bodies follow the project's reading of the real server: `detail`, `message`, `type` (and
`request_id`, added when rendered); 422 keeps FastAPI's list-valued `detail`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The error type sent for each status when a caller does not name one.
DEFAULT_TYPES: Mapping[int, str] = {
    400: "BAD_REQUEST",
    401: "AUTHENTICATION_ERROR",
    402: "INSUFFICIENT_CREDIT",
    403: "AUTHENTICATION_ERROR",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}

DEFAULT_MESSAGES: Mapping[int, str] = {
    429: "Rate limit exceeded",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service temporarily unavailable",
    504: "The request ran past the server's time limit",
}


class ApiError(Exception):
    """An error answer; raised anywhere in a handler, rendered by the error middleware."""

    def __init__(
        self,
        status: int,
        detail: str | list[dict[str, Any]],
        *,
        type: str | None = None,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.type = type or DEFAULT_TYPES.get(status, "ERROR")
        self.message = message if message is not None else _message_for(detail)
        self.headers = dict(headers or {})

    def body(self, request_id: str) -> dict[str, Any]:
        if isinstance(self.detail, list):  # FastAPI's 422 shape: detail is the list of problems
            return {"detail": self.detail, "request_id": request_id}
        return {
            "detail": self.detail,
            "message": self.message,
            "type": self.type,
            "request_id": request_id,
        }


def _message_for(detail: str | list[dict[str, Any]]) -> str:
    return detail if isinstance(detail, str) else "Request validation failed"


def bad_request(message: str, *, type: str = "BAD_REQUEST") -> ApiError:
    return ApiError(400, message, type=type)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def unprocessable(problems: list[dict[str, Any]]) -> ApiError:
    return ApiError(422, problems)


def content_moderation() -> ApiError:
    # The real service puts the type in `detail` too (phota-api.md 9.6).
    return ApiError(
        400,
        "CONTENT_MODERATION",
        type="CONTENT_MODERATION",
        message="The request was blocked by content moderation",
    )


def insufficient_credit() -> ApiError:
    return ApiError(402, "Insufficient credit", type="INSUFFICIENT_CREDIT")


def status_error(status: int, *, retry_after: str | None = None) -> ApiError:
    """A bare status answer, as a fault or a rate limit produces it."""
    headers = {"Retry-After": retry_after} if retry_after is not None else None
    message = DEFAULT_MESSAGES.get(status, f"Error {status}")
    return ApiError(status, message, headers=headers)
