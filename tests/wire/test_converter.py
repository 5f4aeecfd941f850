"""The wire converter: every variant of phota-api.md section 9, parsed without a server.

These are property tests: hypothesis generates the status words in any case, extra unknown keys,
and the different places a result, an error or a poll hint may come in.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phota_async._wire.converter import (
    classify_status,
    converter,
    parse_error_body,
    parse_profile_list,
    parse_retry_after,
    parse_webhook_secret,
    structure,
)
from phota_async._wire.enums import (
    AspectRatio,
    BaseModel,
    JobState,
    OutputFormat,
    ProfileStatus,
    Quality,
    Resolution,
    ResponseMode,
)
from phota_async._wire.models import (
    EditRequest,
    EnhanceRequest,
    ErrorInfo,
    GenerateRequest,
    ImageResponse,
    JobHandle,
    JobSnapshot,
    KnownSubjects,
    Profile,
    ProfileSummary,
    RemixRequest,
)
from phota_async._wire.validation import is_resource_id

# Timing varies on a loaded machine; correctness, not speed, is under test here.
NO_DEADLINE = settings(deadline=None)

PENDING_WORDS = ["queued", "pending", "starting", "running", "processing", "in_progress"]
SUCCEEDED_WORDS = ["completed", "succeeded", "success", "done"]
FAILED_WORDS = ["failed", "error", "canceled", "cancelled", "expired", "timed_out"]
WORD_STATES = (
    [(w, JobState.PENDING) for w in PENDING_WORDS]
    + [(w, JobState.SUCCEEDED) for w in SUCCEEDED_WORDS]
    + [(w, JobState.FAILED) for w in FAILED_WORDS]
)

KNOWN_WORDS = {w for w, _ in WORD_STATES}
JOB_KEYS = {
    "job_id", "id", "status", "result", "output", "images", "download_urls", "known_subjects",
    "error", "poll_after_ms", "retry_after",
}

json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


# Ids the server may send: what the SDK accepts from users too (no path, query or control chars).
SERVER_IDS = st.text(min_size=1, max_size=20).filter(is_resource_id)


def extra_keys(reserved: set[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Random unknown keys (never one the parser reads) with random JSON values."""
    return st.dictionaries(
        st.text(min_size=1, max_size=15).filter(lambda k: k not in reserved), json_values,
        max_size=5,
    )


@st.composite
def any_case(draw: st.DrawFn, word: str) -> str:
    return "".join(draw(st.sampled_from([c.lower(), c.upper()])) for c in word)


@st.composite
def status_in_any_case(draw: st.DrawFn) -> tuple[str, JobState]:
    word, state = draw(st.sampled_from(WORD_STATES))
    return draw(any_case(word)), state


# --- Status words


@pytest.mark.parametrize(("word", "state"), WORD_STATES)
def test_every_documented_status_word_maps_to_its_state(word: str, state: JobState) -> None:
    for variant in (word, word.upper(), word.capitalize()):
        snap = structure({"job_id": "j1", "status": variant}, JobSnapshot)
        assert snap.state is state
        assert snap.status == variant  # the server's raw word is kept for display


@NO_DEADLINE
@given(status_in_any_case())
def test_status_words_match_in_any_case(pair: tuple[str, JobState]) -> None:
    word, state = pair
    assert structure({"job_id": "j", "status": word}, JobSnapshot).state is state
    assert classify_status(f"  {word} ") is state


@NO_DEADLINE
@given(st.text(max_size=30).filter(lambda s: s.strip().lower() not in KNOWN_WORDS))
def test_any_other_status_is_pending_never_a_crash(word: str) -> None:
    snap = structure({"job_id": "j", "status": word}, JobSnapshot)
    assert snap.state is JobState.PENDING
    assert snap.status == word


@pytest.mark.parametrize("status", [None, 7, "", True])
def test_a_missing_or_odd_status_is_pending(status: object) -> None:
    body: dict[str, Any] = {"job_id": "j"}
    if status is not None:
        body["status"] = status
    assert structure(body, JobSnapshot).state is JobState.PENDING


def test_an_unknown_status_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    word = f"Thinking-{uuid.uuid4().hex}"
    with caplog.at_level(logging.WARNING, logger="phota_async"):
        for _ in range(3):
            assert structure({"job_id": "j", "status": word}, JobSnapshot).state is JobState.PENDING
    warnings = [r for r in caplog.records if word in r.getMessage()]
    assert len(warnings) == 1


# --- Job ids and handles


@NO_DEADLINE
@given(st.sampled_from(["job_id", "id"]), SERVER_IDS, extra_keys(JOB_KEYS))
def test_job_id_under_job_id_or_id_with_unknown_keys_ignored(
    key: str, job_id: str, extra: dict[str, Any]
) -> None:
    snap = structure({**extra, key: job_id, "status": "running"}, JobSnapshot)
    assert snap.job_id == job_id
    assert snap.state is JobState.PENDING
    assert snap.result is None and snap.error is None and snap.poll_after is None


def test_a_numeric_job_id_becomes_a_string() -> None:
    assert structure({"id": 12345, "status": "done"}, JobSnapshot).job_id == "12345"


@pytest.mark.parametrize("body", [{"status": "done"}, {"job_id": None}, [], "job", None])
def test_a_job_without_an_id_is_a_clear_value_error(body: object) -> None:
    with pytest.raises(ValueError, match="JobSnapshot"):
        structure(body, JobSnapshot)


@NO_DEADLINE
@given(extra_keys({"job_id", "poll_url"}))
def test_job_handle_ignores_unknown_keys(extra: dict[str, Any]) -> None:
    handle = structure({**extra, "job_id": "j-1", "poll_url": "/jobs/j-1"}, JobHandle)
    assert handle == JobHandle("j-1", "/jobs/j-1")


def test_job_handle_without_poll_url() -> None:
    assert structure({"job_id": "j-2"}, JobHandle).job_id == "j-2"


# --- Results

RESULT = {
    "images": [],
    "download_urls": ["https://cdn.example/a.png?sig=1", "https://cdn.example/b.png?sig=2"],
    "known_subjects": {"counts": {"p-1": 2}},
}


@NO_DEADLINE
@given(st.sampled_from([None, "result", "output"]), extra_keys(JOB_KEYS), any_case("completed"))
def test_result_at_top_level_or_nested(
    nesting: str | None, extra: dict[str, Any], status: str
) -> None:
    body: dict[str, Any] = {**extra, "job_id": "j", "status": status}
    if nesting is None:
        body.update(RESULT)
    else:
        body[nesting] = dict(RESULT)
    snap = structure(body, JobSnapshot)
    assert snap.state is JobState.SUCCEEDED
    assert snap.result is not None
    assert snap.result.download_urls == RESULT["download_urls"]
    assert snap.result.images == []
    assert snap.result.known_subjects.counts == {"p-1": 2}


def test_result_with_base64_images_under_output() -> None:
    snap = structure(
        {"id": "j", "status": "SUCCESS", "output": {"images": ["aGVsbG8=", "d29ybGQ="]}},
        JobSnapshot,
    )
    assert snap.result == ImageResponse(images=["aGVsbG8=", "d29ybGQ="])


def test_result_as_a_bare_list_under_output() -> None:
    snap = structure(
        {"job_id": "j", "status": "done",
         "output": ["https://cdn.example/1.png", "https://cdn.example/2.png"]},
        JobSnapshot,
    )
    assert snap.result is not None
    assert snap.result.download_urls == ["https://cdn.example/1.png", "https://cdn.example/2.png"]
    assert snap.result.images == []


def test_a_pending_job_has_no_result() -> None:
    snap = structure({"job_id": "j", "status": "queued", "result": None, "output": {}}, JobSnapshot)
    assert snap.result is None


@pytest.mark.parametrize(
    "known",
    [{"known_subjects": None}, {"known_subjects": {}}, {}, {"known_subjects": {"counts": None}}],
)
@pytest.mark.parametrize("nesting", [None, "result", "output"])
def test_known_subjects_null_empty_or_missing_is_empty_counts(
    known: dict[str, Any], nesting: str | None
) -> None:
    payload = {"images": [], "download_urls": ["https://cdn.example/x.jpg"], **known}
    body: dict[str, Any] = {"job_id": "j", "status": "done"}
    if nesting is None:
        body.update(payload)
    else:
        body[nesting] = payload
    snap = structure(body, JobSnapshot)
    assert snap.result is not None
    assert snap.result.known_subjects == KnownSubjects({})
    assert snap.result.download_urls == ["https://cdn.example/x.jpg"]


@pytest.mark.parametrize("known", [None, {}, {"counts": {}}])
def test_image_response_known_subjects_lenient(known: object) -> None:
    body: dict[str, Any] = {"images": ["aGk="], "download_urls": []}
    if known is not None:
        body["known_subjects"] = known
    response = structure(body, ImageResponse)
    assert response.images == ["aGk="]
    assert response.known_subjects.counts == {}


@NO_DEADLINE
@given(
    st.dictionaries(st.text(min_size=1, max_size=10), st.integers(0, 10), max_size=4),
    extra_keys({"images", "download_urls", "known_subjects"}),
)
def test_image_response_counts_and_unknown_keys(
    counts: dict[str, int], extra: dict[str, Any]
) -> None:
    body = {**extra, "images": [], "download_urls": ["https://x/1"],
            "known_subjects": {"counts": counts, "extra": 1}}
    assert structure(body, ImageResponse).known_subjects.counts == counts


# --- Errors of a failed job


@NO_DEADLINE
@given(st.text(min_size=1, max_size=40), any_case("failed"))
def test_job_error_as_a_string(reason: str, status: str) -> None:
    snap = structure({"job_id": "j", "status": status, "error": reason}, JobSnapshot)
    assert snap.state is JobState.FAILED
    assert snap.error == ErrorInfo(type=None, message=reason)


@NO_DEADLINE
@given(
    st.sampled_from(["type", "code"]),
    st.sampled_from(["message", "detail"]),
    st.text(min_size=1, max_size=20),
    st.text(min_size=1, max_size=40),
    extra_keys({"type", "code", "message", "detail"}),
)
def test_job_error_as_an_object(
    type_key: str, text_key: str, kind: str, text: str, extra: dict[str, Any]
) -> None:
    error = {**extra, type_key: kind, text_key: text}
    snap = structure({"job_id": "j", "status": "error", "error": error}, JobSnapshot)
    assert snap.error == ErrorInfo(type=kind, message=text)


def test_job_error_object_with_only_a_type() -> None:
    snap = structure(
        {"job_id": "j", "status": "failed", "error": {"code": "CONTENT_MODERATION"}}, JobSnapshot
    )
    assert snap.error == ErrorInfo(type="CONTENT_MODERATION", message=None)


@pytest.mark.parametrize("error", [None, "", {}])
def test_an_empty_error_is_no_error(error: object) -> None:
    snap = structure({"job_id": "j", "status": "running", "error": error}, JobSnapshot)
    assert snap.error is None


# --- Poll hints


@NO_DEADLINE
@given(st.integers(0, 600_000) | st.floats(0, 600_000, allow_nan=False))
def test_poll_after_ms_is_seconds(ms: float) -> None:
    snap = structure({"job_id": "j", "status": "running", "poll_after_ms": ms}, JobSnapshot)
    assert snap.poll_after == pytest.approx(ms / 1000)


@NO_DEADLINE
@given(st.integers(0, 600) | st.floats(0, 600, allow_nan=False))
def test_retry_after_field_is_seconds(seconds: float) -> None:
    snap = structure({"job_id": "j", "status": "running", "retry_after": seconds}, JobSnapshot)
    assert snap.poll_after == pytest.approx(seconds)


def test_a_negative_hint_is_zero_and_poll_after_ms_wins() -> None:
    assert structure({"job_id": "j", "poll_after_ms": -50}, JobSnapshot).poll_after == 0.0
    both = structure({"job_id": "j", "poll_after_ms": 1500, "retry_after": 9}, JobSnapshot)
    assert both.poll_after == pytest.approx(1.5)


def test_no_hint_is_none() -> None:
    assert structure({"job_id": "j", "status": "queued"}, JobSnapshot).poll_after is None


def test_a_whole_emulator_style_job_object() -> None:
    body = {
        "id": "job_7", "status": "RUNNING", "kind": "generate",
        "created_at": "2026-01-01T00:00:00Z", "client_request_id": "abc", "retry_after": 0.25,
    }
    snap = structure(body, JobSnapshot)
    assert (snap.job_id, snap.state, snap.poll_after) == ("job_7", JobState.PENDING, 0.25)


# --- Profiles


@pytest.mark.parametrize("status", list(ProfileStatus))
def test_known_profile_statuses_become_the_enum(status: ProfileStatus) -> None:
    profile = structure({"profile_id": "p", "status": status.value, "message": None}, Profile)
    assert profile.status is status
    assert profile.ready is (status is ProfileStatus.READY)
    assert profile.message is None


@NO_DEADLINE
@given(
    st.text(min_size=1, max_size=20).filter(
        lambda s: s.upper() not in {m.value for m in ProfileStatus}
    ),
    extra_keys({"profile_id", "status", "message"}),
)
def test_an_unknown_profile_status_is_kept_as_a_string(raw: str, extra: dict[str, Any]) -> None:
    profile = structure({**extra, "profile_id": "p", "status": raw, "message": "m"}, Profile)
    assert not isinstance(profile.status, ProfileStatus)
    assert profile.status == raw
    assert not profile.ready
    assert profile.message == "m"


def test_profile_without_message_key() -> None:
    assert structure({"profile_id": "p", "status": "QUEUING"}, Profile).message is None


def test_parse_profile_list_with_string_items() -> None:
    assert parse_profile_list({"profiles": ["p1", "p2"]}) == [
        ProfileSummary("p1"), ProfileSummary("p2"),
    ]


def test_parse_profile_list_with_object_items() -> None:
    items = parse_profile_list({"profiles": [
        {"profile_id": "p1", "tag": "user-42", "status": "READY", "created": 1},
        {"profile_id": "p2"},
        {"profile_id": "p3", "status": "HIBERNATING", "tag": None},
    ]})
    assert [i.profile_id for i in items] == ["p1", "p2", "p3"]
    assert items[0].tag == "user-42" and items[0].status is ProfileStatus.READY
    assert items[1].tag is None and items[1].status is None
    assert items[2].status == "HIBERNATING" and items[2].tag is None


@NO_DEADLINE
@given(
    st.lists(
        SERVER_IDS.flatmap(
            lambda pid: st.sampled_from([pid, {"profile_id": pid}, {"profile_id": pid, "x": 1}])
        ),
        max_size=6,
    ),
    extra_keys({"profiles"}),
)
def test_parse_profile_list_mixed_items_keep_order(items: list[Any], extra: dict[str, Any]) -> None:
    ids = [i if isinstance(i, str) else i["profile_id"] for i in items]
    parsed = parse_profile_list({**extra, "profiles": items})
    assert [p.profile_id for p in parsed] == ids


def test_parse_profile_list_empty_and_bad_shape() -> None:
    assert parse_profile_list({"profiles": []}) == []
    with pytest.raises(ValueError):
        parse_profile_list({"items": ["p1"]})


# --- Webhook secret


@NO_DEADLINE
@given(
    st.sampled_from(["secret", "webhook_secret", "signing_secret"]),
    st.text(min_size=1, max_size=40),
    extra_keys({"secret", "webhook_secret", "signing_secret"}),
)
def test_webhook_secret_under_each_key(key: str, secret: str, extra: dict[str, Any]) -> None:
    assert parse_webhook_secret({**extra, key: secret}) == secret


@pytest.mark.parametrize("body", [{}, {"secret": ""}, {"key": "abc"}, None, ["s"], "s"])
def test_webhook_secret_missing_is_a_value_error(body: object) -> None:
    with pytest.raises(ValueError, match="secret"):
        parse_webhook_secret(body)


# --- Error bodies


@pytest.mark.parametrize("key", ["type", "error_type", "code"])
def test_error_type_under_each_key(key: str) -> None:
    error_type, message, detail, request_id = parse_error_body(
        {key: "CONTENT_MODERATION", "message": "blocked", "detail": "nope", "request_id": "r-1"}
    )
    assert error_type == "CONTENT_MODERATION"
    assert message == "blocked"
    assert detail == "nope"
    assert request_id == "r-1"


def test_error_type_inside_a_detail_string() -> None:
    error_type, message, _, _ = parse_error_body({"detail": "CONTENT_MODERATION"})
    assert error_type == "CONTENT_MODERATION"
    assert message == "CONTENT_MODERATION"


def test_error_text_under_detail_when_no_message() -> None:
    error_type, message, detail, request_id = parse_error_body({"detail": "Profile not found"})
    assert (error_type, message, detail, request_id) == (
        None, "Profile not found", "Profile not found", None,
    )


def test_error_nested_under_error_object() -> None:
    error_type, message, _, _ = parse_error_body(
        {"error": {"code": "RATE_LIMITED", "message": "slow down"}}
    )
    assert (error_type, message) == ("RATE_LIMITED", "slow down")


@pytest.mark.parametrize("type_key", ["type", "code"])
def test_error_type_inside_a_detail_object(type_key: str) -> None:
    error_type, message, _, _ = parse_error_body(
        {"detail": {type_key: "CONTENT_MODERATION", "message": "the prompt was blocked"}}
    )
    assert error_type == "CONTENT_MODERATION"
    assert message == "the prompt was blocked"


def test_fastapi_422_list_detail() -> None:
    detail = [
        {"loc": ["body", "num_output_images"], "msg": "ensure this value is <= 4",
         "type": "value_error"},
        {"loc": ["body", "images", 3], "msg": "invalid image", "type": "value_error"},
    ]
    error_type, message, parsed, request_id = parse_error_body(
        {"detail": detail, "request_id": "r-9"}
    )
    assert parsed == detail
    assert message is not None
    assert "num_output_images: ensure this value is <= 4" in message
    assert "images.3: invalid image" in message
    assert request_id == "r-9"
    assert error_type is None


@NO_DEADLINE
@given(json_values.filter(lambda v: not isinstance(v, dict)))
def test_non_object_bodies_give_nothing_and_never_crash(body: Any) -> None:
    assert parse_error_body(body) == (None, None, None, None)


@NO_DEADLINE
@given(st.dictionaries(st.text(max_size=10), json_values, max_size=6))
def test_any_object_body_never_crashes(body: dict[str, Any]) -> None:
    error_type, message, _, request_id = parse_error_body(body)
    assert error_type is None or isinstance(error_type, str)
    assert message is None or isinstance(message, str)
    assert request_id is None or isinstance(request_id, str)


# --- Retry-After


@NO_DEADLINE
@given(st.integers(0, 100_000))
def test_retry_after_seconds(seconds: int) -> None:
    assert parse_retry_after(str(seconds)) == seconds
    assert parse_retry_after(f" {seconds} ") == seconds


def test_retry_after_fractional_and_negative() -> None:
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("-3") == 0.0


@NO_DEADLINE
@given(st.integers(0, 86_400), st.booleans())
def test_retry_after_http_date(seconds: int, usegmt: bool) -> None:
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    header = email.utils.format_datetime(now + timedelta(seconds=seconds), usegmt=usegmt)
    assert parse_retry_after(header, now=now.timestamp()) == pytest.approx(seconds)


def test_retry_after_http_date_in_the_past_is_zero() -> None:
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    header = email.utils.format_datetime(now - timedelta(minutes=5), usegmt=True)
    assert parse_retry_after(header, now=now.timestamp()) == 0.0


def test_retry_after_http_date_against_the_real_clock() -> None:
    header = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    wait = parse_retry_after(header)
    assert wait is not None and 27 <= wait <= 31


@pytest.fixture
def new_york_local_time() -> Iterator[None]:
    """Run with the process's local zone at UTC-5, as a server in New York would."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()


@pytest.mark.usefixtures("new_york_local_time")
def test_retry_after_gmt_date_does_not_depend_on_the_local_zone() -> None:
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    header = email.utils.format_datetime(now + timedelta(seconds=20), usegmt=True)
    assert parse_retry_after(header, now=now.timestamp()) == pytest.approx(20)
    assert parse_retry_after("Sunday, 01-Mar-26 12:00:20 GMT", now=now.timestamp()) == 20


@pytest.mark.usefixtures("new_york_local_time")
@pytest.mark.parametrize(
    "header",
    [
        "Sun Mar  1 12:00:20 2026",  # asctime-date: RFC 9110 5.6.7 says recipients accept it
        email.utils.format_datetime(datetime(2026, 3, 1, 12, 0, 20)),  # "... -0000"
    ],
)
def test_retry_after_zone_less_http_dates_are_utc(header: str) -> None:
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after(header, now=now.timestamp()) == pytest.approx(20)


@pytest.mark.parametrize("value", [None, "", "   ", "soon", "nan", "inf", "12 seconds", "Mon, 99"])
def test_retry_after_absent_or_garbage_is_none(value: str | None) -> None:
    assert parse_retry_after(value) is None


@NO_DEADLINE
@given(st.text(max_size=30))
def test_retry_after_never_crashes(value: str) -> None:
    result = parse_retry_after(value)
    assert result is None or result >= 0.0


# --- Requests going out


def test_generate_request_sends_async_and_drops_unset_fields() -> None:
    request = GenerateRequest(
        prompt="a fox", output_format=OutputFormat.JPG, response_mode=ResponseMode.URLS,
        async_=True, client_request_id="req-1",
    )
    wire = json.loads(json.dumps(converter.unstructure(request)))
    assert wire == {
        "prompt": "a fox", "output_format": "jpg", "response_mode": "urls", "async": True,
        "client_request_id": "req-1",
    }


def test_async_false_is_kept() -> None:
    request = GenerateRequest(
        prompt="a fox", output_format=OutputFormat.PNG, response_mode=ResponseMode.BYTES,
        async_=False,
    )
    wire = converter.unstructure(request)
    assert wire["async"] is False
    assert "async_" not in wire
    assert None not in wire.values()


def test_generate_request_with_every_option() -> None:
    request = GenerateRequest(
        prompt="p", output_format=OutputFormat.PNG, response_mode=ResponseMode.URLS, async_=True,
        num_output_images=2, callback_url="https://hooks.example/x", client_request_id="c",
        aspect_ratio=AspectRatio.PORTRAIT_3_4, resolution=Resolution.R2K,
        base_model=BaseModel.GPT_IMAGE_2, quality=Quality.HIGH,
    )
    wire = json.loads(json.dumps(converter.unstructure(request)))
    assert wire == {
        "prompt": "p", "output_format": "png", "response_mode": "urls", "async": True,
        "num_output_images": 2, "callback_url": "https://hooks.example/x",
        "client_request_id": "c", "aspect_ratio": "3:4", "resolution": "2K",
        "base_model": "gpt-image-2", "quality": "high",
    }


@pytest.mark.parametrize(
    ("request_obj", "expected_keys"),
    [
        (
            EditRequest(prompt="p", images=["aGk="], profile_ids=["p1"],
                        output_format=OutputFormat.JPG, response_mode=ResponseMode.URLS,
                        async_=True),
            {"prompt", "images", "profile_ids", "output_format", "response_mode", "async"},
        ),
        (
            EnhanceRequest(image="https://x/a.jpg", output_format=OutputFormat.JPG,
                           response_mode=ResponseMode.BYTES, async_=False),
            {"image", "output_format", "response_mode", "async"},
        ),
        (
            RemixRequest(input_image="aGk=", reference_image="https://x/s.jpg",
                         output_format=OutputFormat.PNG, response_mode=ResponseMode.URLS,
                         async_=True, num_output_images=3),
            {"input_image", "reference_image", "output_format", "response_mode", "async",
             "num_output_images"},
        ),
    ],
)
def test_every_request_type_renames_async_and_drops_none(
    request_obj: object, expected_keys: set[str]
) -> None:
    wire = json.loads(json.dumps(converter.unstructure(request_obj)))
    assert set(wire) == expected_keys
    assert wire["async"] is request_obj.async_  # type: ignore[attr-defined]
