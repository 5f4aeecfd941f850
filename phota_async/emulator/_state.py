"""The account's state: image jobs, profiles and the idempotency keys of submits."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ._ledger import Charge

JOB_PENDING = "pending"
JOB_RUNNING = "running"
JOB_SUCCEEDED = "succeeded"
JOB_FAILED = "failed"
JOB_DONE = (JOB_SUCCEEDED, JOB_FAILED)

PROFILE_STATUSES = ("VALIDATING", "QUEUING", "IN_PROGRESS", "READY", "ERROR", "INACTIVE")


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


@attrs.frozen
class ImageRequest:
    """A validated image request: every field checked, every input image loaded."""

    kind: str  # "edit", "generate", "enhance" or "remix"
    path: str  # relative to /v1/phota
    prompt: str | None
    base_model: str
    aspect_ratio: str
    num_output_images: int
    output_format: str
    output_format_defaulted: bool  # the client relied on the deprecated default
    response_mode: str
    is_async: bool
    callback_url: str | None
    client_request_id: str | None
    profile_ids: tuple[str, ...]  # every named profile, each READY
    input_count: int  # the images were checked; outputs do not depend on them, so they are not kept
    should_fail: bool  # the prompt asked for a failure with "[fail]"


# A job's duration in emulated seconds: fixed, or drawn per request (a benchmark's spread).
JobSeconds = float | Callable[[ImageRequest], float]


@attrs.frozen
class JobResult:
    """The outputs of a finished request, as the wire carries them."""

    images: tuple[bytes, ...]  # empty when the client asked for URLs
    download_urls: tuple[str, ...]
    counts: Mapping[str, int]

    def payload(self) -> dict[str, Any]:
        return {
            "known_subjects": {"counts": dict(self.counts)},
            "images": [base64.b64encode(image).decode("ascii") for image in self.images],
            "download_urls": list(self.download_urls),
        }


@attrs.frozen
class JobError:
    type: str
    message: str


@attrs.define(eq=False)
class JobRecord:
    """One asynchronous image job."""

    id: str
    request: ImageRequest
    origin: str  # scheme://host:port the client reached, for its poll and download URLs
    created_at: float  # emulated seconds
    duration: float  # emulated seconds
    charge: Charge
    status: str = JOB_PENDING
    result: JobResult | None = None
    error: JobError | None = None
    # Set by PhotaEmulator.set_job_status: sent verbatim until the job's next own transition.
    forced_status: str | None = None
    forced_error: object = None

    @property
    def kind(self) -> str:
        return self.request.kind

    @property
    def done(self) -> bool:
        return self.status in JOB_DONE

    @property
    def due_at(self) -> float:
        return self.created_at + self.duration


@attrs.define(eq=False)
class ProfileRecord:
    """One profile and its training."""

    id: str
    tier: str
    tag: str | None
    photo_count: int
    has_subject: bool
    picture: bytes  # JPEG
    created_at: float
    charge: Charge
    status: str = "VALIDATING"
    message: str | None = None


@attrs.define
class Store:
    jobs: dict[str, JobRecord] = attrs.Factory(dict)
    profiles: dict[str, ProfileRecord] = attrs.Factory(dict)
    # client_request_id -> job id; the account is the emulator (every accepted key shares it).
    client_request_ids: dict[str, str] = attrs.Factory(dict)

    def job_for_client_request_id(self, client_request_id: str | None) -> JobRecord | None:
        job_id = self.client_request_ids.get(client_request_id) if client_request_id else None
        return self.jobs.get(job_id) if job_id else None

    def add_job(self, job: JobRecord) -> None:
        self.jobs[job.id] = job
        if job.request.client_request_id:
            self.client_request_ids[job.request.client_request_id] = job.id
