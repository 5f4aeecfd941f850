"""The exceptions of phota_async.

All of them derive from :class:`PhotaError`::

    PhotaError
    ├── MissingAPIKeyError            no key given and none in PHOTA_API_KEY
    ├── InvalidInputError             rejected locally, before any request was sent
    ├── APIError
    │   ├── APIStatusError            the server answered with an error status
    │   │   ├── BadRequestError                400
    │   │   │   └── ContentModerationError     400, type CONTENT_MODERATION
    │   │   ├── AuthenticationError            401, 403
    │   │   ├── InsufficientCreditError        402 (also raised locally once the breaker is open)
    │   │   ├── NotFoundError                  404
    │   │   ├── UnprocessableEntityError       422
    │   │   ├── RateLimitError                 429
    │   │   └── ServerError                    5xx
    │   ├── APIConnectionError        no usable answer (refused, dropped, DNS, TLS...)
    │   │   └── APITimeoutError       the call ran past its deadline
    │   └── APIResponseError          an answer we cannot use: not JSON, too deep, too large,
    │                                 or not the shape expected (also a ValueError)
    ├── JobError
    │   ├── JobFailedError            the server says the job failed
    │   ├── TrainingFailedError       a profile training ended in ERROR or INACTIVE
    │   ├── JobTimeoutError           we stopped waiting; the job goes on, the handle stays usable
    │   └── ClientClosedError         the client was closed while waiting; the job goes on
    ├── StorageError                  one upload of a profile photo failed (.transient)
    ├── UploadError                   some photos were not uploaded; nothing was paid
    ├── CoordinationError             the shared coordination (Redis) cannot be used
    ├── JournalError                  a batch journal cannot be used (corrupt, busy, another batch)
    └── WebhookVerificationError      a callback whose signature does not verify

API errors carry ``request_id`` and, where a retry was refused because the request may already
have been processed (a POST with no idempotency key), ``maybe_processed=True`` and a message that
says how to check.
"""

from __future__ import annotations

from typing import Any

from ._redaction import redact

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ContentModerationError",
    "CoordinationError",
    "InsufficientCreditError",
    "InvalidInputError",
    "JobError",
    "JobFailedError",
    "JobTimeoutError",
    "JournalError",
    "MissingAPIKeyError",
    "NotFoundError",
    "PhotaError",
    "RateLimitError",
    "ServerError",
    "StorageError",
    "TrainingFailedError",
    "UnprocessableEntityError",
    "UploadError",
    "WebhookVerificationError",
]


def _rebuild(cls: type[PhotaError], args: tuple[Any, ...]) -> PhotaError:
    error = cls.__new__(cls)  # no __init__: the attributes come back as the pickled state
    error.args = args  # set here: OSError's __new__ (JobTimeoutError) ignores its arguments
    return error


class PhotaError(Exception):
    """Root of every error raised by phota_async.

    Every error pickles and copies with its attributes (for multiprocessing, Celery, arq).
    """

    def __reduce__(self) -> tuple[Any, ...]:
        # The default reduction calls ``cls(*args)``, which cannot pass the keyword-only
        # attributes most subclasses require: rebuild from ``args``, then restore ``__dict__``.
        return _rebuild, (type(self), self.args), self.__dict__


class MissingAPIKeyError(PhotaError):
    """No API key was given and ``PHOTA_API_KEY`` is not set."""


class InvalidInputError(PhotaError, ValueError):
    """A request was rejected locally, before anything was sent or paid.

    ``field`` names the offending field (``images[3]``, ``resolution``...), ``allowed`` says what
    would have been accepted, ``report`` carries a pre-flight report where one was made.
    """

    def __init__(
        self, field: str, message: str, *, allowed: str | None = None, report: Any = None
    ) -> None:
        text = f"{field}: {message}"
        if allowed:
            text += f" (allowed: {allowed})"
        super().__init__(text)
        self.field = field
        self.allowed = allowed
        self.report = report


class APIError(PhotaError):
    """Something went wrong talking to the API.

    ``maybe_processed`` is True when the request may have reached the server and been acted on,
    so it was deliberately not resent. ``attempts`` counts the attempts made. For an asynchronous
    submit, ``client_request_id`` is the idempotency key it was sent with: submit again with the
    same key to get the original job (if there is one) without paying twice.
    """

    request_id: str | None = None
    maybe_processed: bool = False
    attempts: int = 1
    client_request_id: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def mark_maybe_processed(self, how_to_check: str) -> None:
        """Record that the request was not resent because it may already have been processed."""
        self.maybe_processed = True
        self.message = (
            f"{self.message}. The request may have been processed by the server and was not "
            f"resent (it has no idempotency key). {how_to_check}"
        )
        self.args = (self.message,)

    def note_submit(self, client_request_id: str | None) -> None:
        """Record the idempotency key of the submit that failed; where the server may have
        created the job anyway, the message says how to get it without paying twice."""
        self.client_request_id = client_request_id
        if client_request_id and self._job_may_exist():
            self.message = (
                f"{self.message}. The job may exist: submit again with "
                f"client_request_id={client_request_id!r} to get it without paying twice"
            )
            self.args = (self.message,)

    def _job_may_exist(self) -> bool:
        return True


class APIStatusError(APIError):
    """The server answered with an error status.

    ``status``, ``request_id``, ``error_type`` (e.g. ``CONTENT_MODERATION``), ``detail`` (the parsed
    ``detail`` field, a list for 422) and ``body`` (the raw text) are kept for inspection.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        request_id: str | None = None,
        error_type: str | None = None,
        detail: Any = None,
        body: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.request_id = request_id
        self.error_type = error_type
        self.detail = detail
        self.body = body
        self.retry_after = retry_after

    def __str__(self) -> str:
        parts = [f"{self.status}"]
        if self.error_type:
            parts.append(self.error_type)
        text = f"[{' '.join(parts)}] {self.message}"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text

    def _job_may_exist(self) -> bool:
        return self.status >= 500  # a refusal (4xx) made nothing


class BadRequestError(APIStatusError):
    """400: the server refused the request."""


class ContentModerationError(BadRequestError):
    """400 with type ``CONTENT_MODERATION``: a prompt or image was blocked."""


class AuthenticationError(APIStatusError):
    """401 (invalid key) or 403 (missing key header)."""


class InsufficientCreditError(APIStatusError):
    """402: not enough prepaid credit. Further submits on the client fail at once until
    ``AsyncPhota.reset_credit_breaker()`` is called."""


class NotFoundError(APIStatusError):
    """404: no such profile or job."""


class UnprocessableEntityError(APIStatusError):
    """422: the request failed the server's validation; ``detail`` holds FastAPI's list."""


class RateLimitError(APIStatusError):
    """429: rate limited; ``retry_after`` holds the server's hint in seconds, if any."""


class ServerError(APIStatusError):
    """5xx: the server failed."""


class APIConnectionError(APIError):
    """No usable answer: the connection was refused, dropped, or failed.

    ``request_sent`` is False only when the request certainly never reached the server
    (for example, the connection was refused), which makes any request safe to resend.
    """

    def __init__(self, message: str, *, request_sent: bool = True) -> None:
        super().__init__(message)
        self.request_sent = request_sent

    def _job_may_exist(self) -> bool:
        return self.request_sent


class APITimeoutError(APIConnectionError):
    """The call ran past its deadline (all attempts and waits included)."""


class APIResponseError(APIError, ValueError):
    """The server answered, but the answer cannot be used: it is not JSON, is nested or sized
    past the client's limits, or lacks what the call needs (a submit's ``job_id``, say).

    ``status`` and ``request_id`` identify the answer; ``body`` holds the start of its text
    (with the API key and URL query strings hidden).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        body: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.request_id = request_id
        self.body = body


class JobError(PhotaError):
    """Base of the errors about a remote job."""

    def __init__(self, message: str, *, job_id: str) -> None:
        super().__init__(message)
        self.job_id = job_id


class JobFailedError(JobError):
    """The server reports the job failed; ``error_type`` and ``reason`` come from it."""

    def __init__(
        self, job_id: str, *, status: str, reason: str | None, error_type: str | None = None
    ) -> None:
        text = f"job {job_id} {status}"
        if error_type:
            text += f" [{error_type}]"
        if reason:
            text += f": {reason}"
        super().__init__(text, job_id=job_id)
        self.status = status
        self.reason = reason
        self.error_type = error_type


class TrainingFailedError(JobError):
    """A profile training ended in ``ERROR`` or ``INACTIVE``; ``message`` is the server's."""

    def __init__(self, profile_id: str, *, status: str, message: str | None) -> None:
        text = f"profile {profile_id} training ended {status}"
        if message:
            text += f": {message}"
        super().__init__(text, job_id=profile_id)
        self.profile_id = profile_id
        self.status = status
        self.server_message = message


class JobTimeoutError(JobError, TimeoutError):
    """We stopped waiting for a job. The job goes on remotely; the handle stays usable."""


class ClientClosedError(JobError):
    """The client was closed (``aclose()``) while this job was awaited, or a closed client was
    asked to wait. The job goes on at the server: re-attach it on an open client with
    ``phota.jobs.from_token(token)`` or ``phota.jobs.attach(job_id)``."""


class StorageError(PhotaError):
    """One upload attempt failed. ``transient`` is True when trying again may succeed (the
    connection failed, 5xx, 429); ``status`` is the storage's HTTP status when there was one.
    Raise it from your own uploader to say whether a retry makes sense."""

    def __init__(self, message: str, *, transient: bool, status: int | None = None) -> None:
        super().__init__(redact(message))
        self.transient = transient
        self.status = status


class UploadError(PhotaError):
    """Some photos could not be uploaded; nothing was sent to ``profiles/add``.

    ``failed`` maps each failed photo's index to the reason; ``uploaded`` maps the others to
    their URLs (already stored: reuse them, or let your storage's lifecycle rules expire them).
    """

    def __init__(self, failed: dict[int, str], uploaded: dict[int, str]) -> None:
        self.failed = dict(sorted(failed.items()))
        self.uploaded = dict(sorted(uploaded.items()))
        lines = [f"photos[{index}]: {reason}" for index, reason in self.failed.items()]
        super().__init__(f"{len(failed)} of {len(failed) + len(uploaded)} photo upload(s) "
                         "failed; nothing was sent to profiles/add\n" + "\n".join(lines))


class JournalError(PhotaError):
    """A batch journal cannot be used: unreadable or corrupt, in use by another process, or
    written for another batch or account. ``path`` names it. Nothing was sent: the journal is
    never silently started over, since that would pay again for work it records."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class WebhookVerificationError(PhotaError):
    """A callback's signature is missing or does not match the account secret."""


class CoordinationError(PhotaError):
    """The coordination shared between processes (Redis) cannot be reached or refused us.

    The message is one line and never holds the Redis password. Raised when a client starts
    and Redis is unusable, unless the coordination was asked to fall back to in-process.
    """


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: InsufficientCreditError,
    403: AuthenticationError,
    404: NotFoundError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(status: int, error_type: str | None) -> type[APIStatusError]:
    """The exception class for an error status (and error type, for moderation)."""
    if status == 400 and error_type and error_type.upper() == "CONTENT_MODERATION":
        return ContentModerationError
    if status in _STATUS_CLASSES:
        return _STATUS_CLASSES[status]
    if status >= 500:
        return ServerError
    return APIStatusError
