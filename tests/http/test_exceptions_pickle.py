"""Every public exception survives pickle and copy with its attributes (issue #10, item 9).

Users send errors across processes (multiprocessing, Celery, arq) and copy them (deepcopy of a
task's state): an error that cannot make the trip replaces the real failure with a TypeError.
"""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest

import phota_async
from phota_async import PhotoReport, TrainingTier

_REPORT = PhotoReport(tier=TrainingTier.FAST, photos=())

# One instance of each public exception, with every attribute its constructor takes.
SAMPLES: dict[str, Any] = {
    "PhotaError": lambda e: e.PhotaError("plain"),
    "MissingAPIKeyError": lambda e: e.MissingAPIKeyError("no key"),
    "InvalidInputError": lambda e: e.InvalidInputError(
        "photos", "too few", allowed="5..50", report=_REPORT
    ),
    "APIError": lambda e: e.APIError("api"),
    "APIStatusError": lambda e: e.APIStatusError(
        "teapot", status=418, request_id="r1", error_type="TEA", detail={"a": [1]},
        body='{"a": [1]}', retry_after=2.5,
    ),
    "BadRequestError": lambda e: e.BadRequestError("bad", status=400, detail="x"),
    "ContentModerationError": lambda e: e.ContentModerationError(
        "blocked", status=400, error_type="CONTENT_MODERATION"
    ),
    "AuthenticationError": lambda e: e.AuthenticationError("who", status=401),
    "InsufficientCreditError": lambda e: e.InsufficientCreditError("pay", status=402),
    "NotFoundError": lambda e: e.NotFoundError("gone", status=404, request_id="r2"),
    "UnprocessableEntityError": lambda e: e.UnprocessableEntityError(
        "invalid", status=422, detail=[{"loc": ["body", "prompt"], "msg": "missing"}]
    ),
    "RateLimitError": lambda e: e.RateLimitError("slow", status=429, retry_after=3.0),
    "ServerError": lambda e: e.ServerError("boom", status=503),
    "APIConnectionError": lambda e: e.APIConnectionError("refused", request_sent=False),
    "APITimeoutError": lambda e: e.APITimeoutError("late", request_sent=True),
    "APIResponseError": lambda e: e.APIResponseError(
        "not JSON", status=202, request_id="r3", body="<html>"
    ),
    "JobError": lambda e: e.JobError("job", job_id="j1"),
    "JobFailedError": lambda e: e.JobFailedError(
        "j2", status="failed", reason="no face", error_type="NO_SUBJECT"
    ),
    "TrainingFailedError": lambda e: e.TrainingFailedError(
        "p1", status="ERROR", message="blurry"
    ),
    "JobTimeoutError": lambda e: e.JobTimeoutError("still running", job_id="j3"),
    "ClientClosedError": lambda e: e.ClientClosedError("closed", job_id="j4"),
    "StorageError": lambda e: e.StorageError("503 from bucket", transient=True, status=503),
    "UploadError": lambda e: e.UploadError({2: "403"}, {0: "https://b/0", 1: "https://b/1"}),
    "WebhookVerificationError": lambda e: e.WebhookVerificationError("bad signature"),
    "JournalError": lambda e: e.JournalError("another batch", path="/tmp/j.sqlite"),
    "CoordinationError": lambda e: e.CoordinationError("redis down"),
}


def _public_exceptions() -> list[str]:
    return sorted(
        name for name in phota_async.__all__
        if isinstance(getattr(phota_async, name), type)
        and issubclass(getattr(phota_async, name), BaseException)
    )


def _sample(name: str) -> BaseException:
    error: BaseException = SAMPLES[name](phota_async)
    if isinstance(error, phota_async.APIError):  # what the retry layer and submits add later
        error.attempts = 3
        error.client_request_id = "phota-abc"
    return error


def test_every_public_exception_has_a_sample() -> None:
    assert set(_public_exceptions()) <= set(SAMPLES), "add a sample for each new exception"


@pytest.mark.parametrize("name", _public_exceptions())
@pytest.mark.parametrize("trip", ["pickle", "copy", "deepcopy"])
def test_exception_round_trips_with_its_attributes(name: str, trip: str) -> None:
    error = _sample(name)
    trips = {"pickle": lambda e: pickle.loads(pickle.dumps(e)), "copy": copy.copy,
             "deepcopy": copy.deepcopy}
    clone = trips[trip](error)
    assert type(clone) is type(error)
    assert str(clone) == str(error)
    assert clone.args == error.args
    assert vars(clone) == vars(error)


def test_a_maybe_processed_error_keeps_its_message_and_flag() -> None:
    error = phota_async.ServerError("POST /profiles/add: boom", status=502)
    error.mark_maybe_processed("List your profiles to check.")
    clone = pickle.loads(pickle.dumps(error))
    assert clone.maybe_processed and "List your profiles" in str(clone)
    assert clone.message == error.message
