"""Raw exceptions never escape and server ids are not trusted (issue #10, item 10).

A submit's 202 that is not a readable job handle, a tampered job token and an API key that
cannot go into a header each give the right ``PhotaError`` with a one-line reason.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from phota_async import (
    APIError,
    APIResponseError,
    AsyncPhota,
    InvalidInputError,
    MissingAPIKeyError,
    PhotaError,
)

from .hostile import KEY, client_of, hostile
from .hostile import answer as respond


@pytest.mark.parametrize(
    "handler",
    [
        respond(text="<html>502 Bad Gateway</html>", status=202, content_type="text/html"),
        respond(text='{"job_id": "j1"', status=202, content_type="application/json"),
        respond({"job_id": None}, status=202),
        respond({"job_id": ""}, status=202),
        respond({"job_id": True}, status=202),
        respond({"job_id": {"id": "j1"}}, status=202),
        respond({"poll_url": "/jobs/j1"}, status=202),
        respond(["j1"], status=202),
    ],
    ids=["html", "truncated-json", "null-id", "empty-id", "bool-id", "object-id", "no-id",
         "list"],
)
async def test_an_unreadable_job_handle_says_the_job_may_exist(handler: Any) -> None:
    async with hostile({"POST /generate": handler}) as api, client_of(api) as phota:
        with pytest.raises(APIResponseError) as info:
            await phota.generate("a cat", client_request_id="mine-1")
    error = info.value
    assert isinstance(error, APIError)
    assert error.client_request_id == "mine-1" and error.status == 202
    text = str(error)
    assert "may exist" in text and "mine-1" in text and "\n" not in text
    assert api.hits["POST /generate"] == 1


async def test_a_valid_handle_still_makes_a_job() -> None:
    routes = {"POST /generate": respond({"job_id": "j-1", "poll_url": "/jobs/j-1"}, status=202)}
    async with hostile(routes) as api, client_of(api) as phota:
        job = await phota.generate("a cat")
    assert job.id == "j-1"


async def test_a_null_profile_id_is_not_profile_none() -> None:
    routes = {"GET /profiles/p1/status": respond({"profile_id": None, "status": "READY"})}
    async with hostile(routes) as api, client_of(api) as phota:
        with pytest.raises(APIResponseError, match="profile_id"):
            await phota.profiles.status("p1")


async def test_counts_that_are_not_finite_numbers_are_left_out() -> None:
    body = ('{"images": [], "download_urls": ["https://cdn.test/a.jpg"], '
            '"known_subjects": {"counts": {"p1": 1e999, "p2": NaN, "p3": true, "p4": 2}}}')
    routes = {"POST /generate": respond(text=body, content_type="application/json")}
    async with hostile(routes) as api, client_of(api) as phota:
        result = await (await phota.generate("a cat", mode="sync"))
    assert result.known_subjects.counts == {"p4": 2}


# --- Tokens --------------------------------------------------------------------------------


def _token(payload: Any, *, raw: bytes | None = None) -> str:
    data = raw if raw is not None else json.dumps(payload).encode()
    return "phj1." + base64.urlsafe_b64encode(data).decode().rstrip("=")


def _fields(phota: AsyncPhota, **changes: Any) -> dict[str, Any]:
    good = phota.jobs.attach("job-1").to_token()
    payload: dict[str, Any] = json.loads(base64.urlsafe_b64decode(good[5:] + "=="))
    payload.update(changes)
    return payload


TAMPERED: dict[str, Any] = {
    "t-text": {"t": "yesterday"},
    "t-list": {"t": [1]},
    "t-bool": {"t": True},
    "t-negative": {"t": -5},
    "e-object": {"e": {"x": 1}},
    "e-path": {"e": "../../etc"},
    "c-number": {"c": 5},
    "c-bad": {"c": "has space"},
    "cb-text": {"cb": "yes"},
    "id-number": {"id": 7},
    "id-slash": {"id": "a/b"},
    "kind": {"k": "video"},
    "u-list": {"u": ["x"]},
}


@pytest.mark.parametrize("change", list(TAMPERED.values()), ids=list(TAMPERED))
async def test_a_tampered_token_field_is_invalid_input(change: dict[str, Any]) -> None:
    async with AsyncPhota(api_key=KEY, base_url="http://127.0.0.1:9/v1") as phota:
        token = _token(_fields(phota, **change))
        with pytest.raises(InvalidInputError) as info:
            phota.jobs.from_token(token)
    assert info.value.field == "token"


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe not utf-8",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"k": "image", "id": "j", "t": Infinity}',
        b'{"k": "image", "id": "j", "t": 1e999}',
        b'{"k": "image", "id": "j", "t": NaN}',
        b"[1, 2]",
        b"null",
    ],
    ids=["not-utf8", "deep", "infinity", "overflow", "nan", "list", "null"],
)
async def test_a_corrupt_token_is_invalid_input(raw: bytes) -> None:
    async with AsyncPhota(api_key=KEY, base_url="http://127.0.0.1:9/v1") as phota:
        with pytest.raises(InvalidInputError) as info:
            phota.jobs.from_token(_token(None, raw=raw))
    assert info.value.field == "token"


@pytest.mark.parametrize("token", ["phj1.!!!", "phj1.é", "phj1." + "A" * 5, 42, None])
async def test_a_garbled_token_is_invalid_input(token: Any) -> None:
    async with AsyncPhota(api_key=KEY, base_url="http://127.0.0.1:9/v1") as phota:
        with pytest.raises(InvalidInputError):
            phota.jobs.from_token(token)


async def test_an_untampered_token_still_attaches() -> None:
    async with AsyncPhota(api_key=KEY, base_url="http://127.0.0.1:9/v1") as phota:
        job = phota.jobs.attach("job-1")
        token = job.to_token()
        assert phota.jobs.from_token(token) is job


# --- The API key -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [KEY + "\n", KEY + "\r\n", " " + KEY, KEY + "\t", KEY[:5] + "\x00" + KEY[5:],
     KEY + "é", "ключ-" + KEY],
    ids=["newline", "crlf", "leading-space", "tab", "nul", "latin", "cyrillic"],
)
def test_a_key_that_cannot_be_a_header_is_refused_at_construction(bad: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        AsyncPhota(api_key=bad, base_url="http://127.0.0.1:9/v1")
    error = info.value
    assert error.field == "api_key"
    assert KEY not in str(error) and KEY not in repr(error) and KEY[:12] not in str(error)


def test_a_key_from_the_environment_is_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOTA_API_KEY", KEY + "\n")
    with pytest.raises(InvalidInputError, match="api_key") as info:
        AsyncPhota(base_url="http://127.0.0.1:9/v1")
    assert KEY not in str(info.value)


def test_a_key_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="api_key"):
        AsyncPhota(api_key=KEY.encode(), base_url="http://127.0.0.1:9/v1")  # type: ignore[arg-type]


def test_an_empty_key_is_still_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PHOTA_API_KEY", raising=False)
    with pytest.raises(MissingAPIKeyError):
        AsyncPhota(api_key="")
    assert issubclass(MissingAPIKeyError, PhotaError)
