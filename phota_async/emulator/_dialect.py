"""Which of the wire variants of phota-api.md section 9 the emulator speaks, and their rendering.

The SDK must accept every variant; tests switch the emulator between them with `Dialect(...)`.
"""

from __future__ import annotations

import math
import types
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from ._clock import ScaledClock, http_date
from ._state import JOB_FAILED, JOB_PENDING, JOB_RUNNING, JOB_SUCCEEDED, JobRecord, ProfileRecord

DEFAULT_STATUS_WORDS: Mapping[str, str] = types.MappingProxyType(
    {
        JOB_PENDING: "queued",
        JOB_RUNNING: "running",
        JOB_SUCCEEDED: "completed",
        JOB_FAILED: "failed",
    }
)
_MIN_POLL_HINT_MS = 10


def _status_words(words: Mapping[str, str]) -> Mapping[str, str]:
    unknown = set(words) - set(DEFAULT_STATUS_WORDS)
    if unknown:
        raise ValueError(
            f"status_words keys must be among {sorted(DEFAULT_STATUS_WORDS)}: {unknown}"
        )
    return types.MappingProxyType({**DEFAULT_STATUS_WORDS, **words})


def _one_of(*options: object) -> Any:
    return attrs.validators.in_(options)


@attrs.frozen
class Dialect:
    """Wire variants. Each default is the first option listed in section 9."""

    status_case: Literal["lower", "upper"] = attrs.field(
        default="lower", validator=_one_of("lower", "upper")
    )
    # Internal state (pending/running/succeeded/failed) -> wire word; a partial map is completed.
    status_words: Mapping[str, str] = attrs.field(
        default=DEFAULT_STATUS_WORDS, converter=_status_words, hash=False
    )
    id_key: Literal["job_id", "id"] = attrs.field(
        default="job_id", validator=_one_of("job_id", "id")
    )
    result_nesting: Literal["result", "output"] | None = attrs.field(
        default=None, validator=_one_of(None, "result", "output")
    )
    error_shape: Literal["object", "string"] = attrs.field(
        default="object", validator=_one_of("object", "string")
    )
    poll_hints: bool = True
    # Where a poll hint goes: field `poll_after_ms`, field `retry_after` (seconds) or the header.
    poll_hint: Literal["poll_after_ms", "retry_after", "header"] = attrs.field(
        default="poll_after_ms", validator=_one_of("poll_after_ms", "retry_after", "header")
    )
    # How a computed Retry-After header is written: delta seconds or an HTTP date.
    retry_after: Literal["seconds", "date"] = attrs.field(
        default="seconds", validator=_one_of("seconds", "date")
    )
    secret_key: Literal["secret", "webhook_secret", "signing_secret"] = attrs.field(
        default="secret", validator=_one_of("secret", "webhook_secret", "signing_secret")
    )
    profile_items: Literal["strings", "objects"] = attrs.field(
        default="strings", validator=_one_of("strings", "objects")
    )

    def status_word(self, job: JobRecord) -> str:
        if job.forced_status is not None:
            return job.forced_status
        word = self.status_words[job.status]
        return word.upper() if self.status_case == "upper" else word.lower()

    def job_object(self, job: JobRecord, clock: ScaledClock) -> dict[str, Any]:
        """The body of GET /jobs/{id}, and of the job's callback."""
        body: dict[str, Any] = {
            self.id_key: job.id,
            "status": self.status_word(job),
            "kind": job.kind,
            "created_at": clock.isoformat(job.created_at),
        }
        if job.request.client_request_id:
            body["client_request_id"] = job.request.client_request_id
        if not job.done and self.poll_hints:
            body.update(self._hint_fields(_hint_seconds(job, clock)))
        if job.result is not None:
            self._put_result(body, job.result.payload())
        error = self._error(job)
        if error is not None:
            body["error"] = error
        return body

    def poll_headers(self, job: JobRecord, clock: ScaledClock) -> dict[str, str]:
        if job.done or not self.poll_hints or self.poll_hint != "header":
            return {}
        return {"Retry-After": self.retry_after_value(_hint_seconds(job, clock))}

    def retry_after_value(self, seconds: float) -> str:
        """A Retry-After value for a wait of `seconds` real seconds (whole seconds, at least 1)."""
        whole = max(1, math.ceil(seconds))
        if self.retry_after == "date":
            return http_date(whole)
        return str(whole)

    def secret_body(self, secret: str) -> dict[str, str]:
        return {self.secret_key: secret}

    def profile_item(self, profile: ProfileRecord) -> str | dict[str, Any]:
        if self.profile_items == "strings":
            return profile.id
        return {"profile_id": profile.id, "tag": profile.tag, "status": profile.status}

    def _hint_fields(self, seconds: float) -> dict[str, Any]:
        if self.poll_hint == "poll_after_ms":
            return {"poll_after_ms": max(_MIN_POLL_HINT_MS, round(seconds * 1000))}
        if self.poll_hint == "retry_after":
            return {"retry_after": round(max(_MIN_POLL_HINT_MS / 1000, seconds), 3)}
        return {}

    def _put_result(self, body: dict[str, Any], payload: dict[str, Any]) -> None:
        if self.result_nesting is None:
            body.update(payload)
        else:
            body[self.result_nesting] = payload

    def _error(self, job: JobRecord) -> object:
        if job.forced_error is not None:
            return job.forced_error
        if job.error is None:
            return None
        if self.error_shape == "string":
            return job.error.message
        return {"type": job.error.type, "message": job.error.message}


def _hint_seconds(job: JobRecord, clock: ScaledClock) -> float:
    """Real seconds until the job is due: what a well-behaved poller should wait."""
    return clock.to_real(job.due_at - clock.now())
