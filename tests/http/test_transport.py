"""The transport, one HTTP attempt at a time: the key header, error mapping and redaction.

Mostly with aioresponses; a few tests use real loopback servers (aiohttp.test_utils) where what
matters is what actually went over the wire.
"""

from __future__ import annotations

import email.utils
import json
import logging
import socket
import types
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aioresponses import aioresponses
from aioresponses import core as aioresponses_core
from yarl import URL

from phota_async import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ContentModerationError,
    InsufficientCreditError,
    NotFoundError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    UnprocessableEntityError,
)
from phota_async._http.limiter import AdaptiveLimiter
from phota_async._http.requester import Requester
from phota_async._http.retry import Idempotency
from phota_async._http.transport import Transport

KEY = "pk_live_SUPERSECRET_0123456789abcdef"
BASE = "https://api.phota.test/v1/phota"
FAST = RetryPolicy(max_attempts=3, backoff_initial=0.001, backoff_max=0.002, retry_after_cap=0.01)


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    t = Transport(api_key=KEY, base_url=BASE)
    yield t
    await t.aclose()


class _CompatResponse(aiohttp.ClientResponse):
    """aioresponses 0.7.9 builds responses without the ``stream_writer`` that aiohttp 3.14
    requires (pnuckowski/aioresponses#289); supply a finished one."""

    def __init__(self, *args: Any, stream_writer: Any = None, **kwargs: Any) -> None:
        finished = types.SimpleNamespace(output_size=0)
        super().__init__(*args, stream_writer=stream_writer or finished, **kwargs)


@pytest.fixture
def mock(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(aioresponses_core, "ClientResponse", _CompatResponse)
    with aioresponses() as m:
        yield m


def calls(m: Any, method: str, url: str) -> list[Any]:
    return list(m.requests.get((method, URL(url)), []))


def all_calls(m: Any) -> list[tuple[str, URL, Any]]:
    return [(method, url, call) for (method, url), cs in m.requests.items() for call in cs]


def sent_key(call: Any) -> str | None:
    headers = {k.lower(): v for k, v in (call.kwargs.get("headers") or {}).items()}
    return headers.get("x-api-key")


def assert_no_key(*texts: object) -> None:
    for text in texts:
        assert KEY not in str(text)


def assert_exception_redacted(exc: BaseException) -> None:
    assert_no_key(str(exc), repr(exc), exc.args, getattr(exc, "message", ""))
    for attr in ("body", "detail", "request_id", "error_type"):
        assert_no_key(getattr(exc, attr, ""))


def assert_logs_redacted(caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        assert_no_key(record.getMessage(), record.args, record.exc_text or "")


# --- The key on API calls


async def test_key_header_on_get(transport: Transport, mock: Any) -> None:
    mock.get(f"{BASE}/profiles/ids?tag=user-1", payload={"profiles": []},
             headers={"X-Request-Id": "req-1"})
    response = await transport.request("GET", "profiles/ids", params={"tag": "user-1"})
    assert response.status == 200
    assert response.json() == {"profiles": []}
    assert response.request_id == "req-1"
    (call,) = calls(mock, "GET", f"{BASE}/profiles/ids?tag=user-1")
    assert sent_key(call) == KEY


async def test_key_header_and_json_body_on_post(transport: Transport, mock: Any) -> None:
    mock.post(f"{BASE}/generate", status=202, payload={"job_id": "j1", "poll_url": "/jobs/j1"})
    response = await transport.request(
        "POST", "/generate", json_body={"prompt": "a fox", "async": True}
    )
    assert response.status == 202
    (call,) = calls(mock, "POST", f"{BASE}/generate")
    assert sent_key(call) == KEY
    headers = {k.lower(): v for k, v in call.kwargs["headers"].items()}
    assert headers["content-type"] == "application/json"
    assert json.loads(call.kwargs["data"]) == {"prompt": "a fox", "async": True}


async def test_delete_carries_the_key(transport: Transport, mock: Any) -> None:
    mock.delete(f"{BASE}/profiles/p1", payload={"profile_id": "p1", "status": "ok"})
    await transport.request("DELETE", "profiles/p1")
    (call,) = calls(mock, "DELETE", f"{BASE}/profiles/p1")
    assert sent_key(call) == KEY


def test_repr_of_transport_hides_the_key() -> None:
    t = Transport(api_key=KEY, base_url=BASE)
    assert_no_key(repr(t), str(t), vars(t) if hasattr(t, "__dict__") else "")
    assert "api.phota.test" in repr(t)


# --- Error statuses

STATUS_CLASSES = [
    (400, BadRequestError),
    (401, AuthenticationError),
    (402, InsufficientCreditError),
    (403, AuthenticationError),
    (404, NotFoundError),
    (422, UnprocessableEntityError),
    (429, RateLimitError),
    (500, ServerError),
    (502, ServerError),
    (503, ServerError),
    (504, ServerError),
]


@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES)
async def test_each_error_status_maps_to_its_class(
    transport: Transport, mock: Any, status: int, cls: type[APIStatusError]
) -> None:
    body = {"detail": f"problem {status}", "message": f"it went wrong ({status})",
            "type": f"TYPE_{status}", "request_id": "body-rid"}
    mock.get(f"{BASE}/jobs/j1", status=status, body=json.dumps(body),
             headers={"X-Request-Id": "hdr-rid", "Retry-After": "7",
                      "Content-Type": "application/json"})
    with pytest.raises(APIStatusError) as info:
        await transport.request("GET", "jobs/j1")
    exc = info.value
    assert type(exc) is cls
    assert exc.status == status
    assert exc.request_id == "hdr-rid"  # the header wins over the body
    assert exc.error_type == f"TYPE_{status}"
    assert exc.detail == f"problem {status}"
    assert json.loads(exc.body) == body
    assert exc.retry_after == 7.0
    assert f"it went wrong ({status})" in str(exc)
    assert str(status) in str(exc) and "hdr-rid" in str(exc)
    assert not isinstance(exc, ContentModerationError)


@pytest.mark.parametrize(
    "body",
    [
        {"detail": "CONTENT_MODERATION", "message": "blocked", "type": "CONTENT_MODERATION"},
        {"detail": "CONTENT_MODERATION"},
        {"error_type": "content_moderation", "message": "blocked"},
        {"code": "CONTENT_MODERATION", "detail": "The prompt was blocked"},
    ],
)
async def test_400_content_moderation(
    transport: Transport, mock: Any, body: dict[str, Any]
) -> None:
    mock.post(f"{BASE}/edit", status=400, payload={**body, "request_id": "r-mod"})
    with pytest.raises(ContentModerationError) as info:
        await transport.request("POST", "edit", json_body={"prompt": "x"})
    exc = info.value
    assert isinstance(exc, BadRequestError)
    assert exc.status == 400
    assert exc.error_type is not None and exc.error_type.upper() == "CONTENT_MODERATION"
    assert exc.request_id == "r-mod"


async def test_request_id_from_body_when_header_missing(transport: Transport, mock: Any) -> None:
    mock.get(f"{BASE}/profiles/p9/status", status=404,
             payload={"detail": "Profile not found", "request_id": "from-body"})
    with pytest.raises(NotFoundError) as info:
        await transport.request("GET", "profiles/p9/status")
    assert info.value.request_id == "from-body"
    assert info.value.retry_after is None
    assert "Profile not found" in str(info.value)


async def test_422_keeps_fastapi_detail_list(transport: Transport, mock: Any) -> None:
    detail = [{"loc": ["body", "num_output_images"], "msg": "must be <= 4", "type": "value_error"}]
    mock.post(f"{BASE}/generate", status=422, payload={"detail": detail})
    with pytest.raises(UnprocessableEntityError) as info:
        await transport.request("POST", "generate", json_body={"num_output_images": 9})
    assert info.value.detail == detail
    assert "num_output_images" in str(info.value)


async def test_429_retry_after_as_http_date(transport: Transport, mock: Any) -> None:
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    mock.get(f"{BASE}/jobs/j", status=429, payload={"detail": "slow down"},
             headers={"Retry-After": when})
    with pytest.raises(RateLimitError) as info:
        await transport.request("GET", "jobs/j")
    assert info.value.retry_after is not None
    assert 17 <= info.value.retry_after <= 21


async def test_429_without_retry_after(transport: Transport, mock: Any) -> None:
    mock.get(f"{BASE}/jobs/j", status=429, body="")
    with pytest.raises(RateLimitError) as info:
        await transport.request("GET", "jobs/j")
    assert info.value.retry_after is None
    assert "429" in str(info.value)


async def test_html_error_body_still_gives_a_useful_error(transport: Transport, mock: Any) -> None:
    html = "<html><body><h1>502 Bad Gateway</h1><p>nginx upstream died</p></body></html>"
    mock.post(f"{BASE}/generate", status=502, body=html, content_type="text/html",
              headers={"X-Request-Id": "edge-7"})
    with pytest.raises(ServerError) as info:
        await transport.request("POST", "generate", json_body={"prompt": "x"})
    exc = info.value
    assert exc.status == 502
    assert exc.body == html
    assert exc.request_id == "edge-7"
    assert exc.error_type is None
    assert "502" in str(exc) and "nginx upstream died" in str(exc)


async def test_empty_error_body_mentions_the_status(transport: Transport, mock: Any) -> None:
    mock.get(f"{BASE}/jobs/j", status=503, body="")
    with pytest.raises(ServerError) as info:
        await transport.request("GET", "jobs/j")
    assert info.value.status == 503
    assert "503" in str(info.value)


# --- Redaction


@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES)
async def test_key_never_in_status_errors_or_logs(
    transport: Transport, mock: Any, caplog: pytest.LogCaptureFixture,
    status: int, cls: type[APIStatusError],
) -> None:
    caplog.set_level(logging.DEBUG)
    mock.post(f"{BASE}/generate", status=status, payload={"detail": "nope", "request_id": "r"})
    with pytest.raises(cls) as info:
        await transport.request("POST", "generate", json_body={"prompt": "x"})
    assert_exception_redacted(info.value)
    assert_logs_redacted(caplog)


async def test_key_echoed_by_the_server_is_not_repeated_in_the_exception(
    transport: Transport, mock: Any
) -> None:
    mock.get(f"{BASE}/jobs/j", status=401, payload={"detail": f"Invalid API key: {KEY}"})
    with pytest.raises(AuthenticationError) as info:
        await transport.request("GET", "jobs/j")
    assert_no_key(str(info.value), repr(info.value), info.value.args)


@pytest.mark.parametrize(
    "exception",
    [
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientOSError(104, "Connection reset by peer"),
        aiohttp.ServerTimeoutError("read timed out"),
        TimeoutError(),
    ],
)
async def test_key_never_in_connection_errors(
    transport: Transport, mock: Any, caplog: pytest.LogCaptureFixture, exception: Exception
) -> None:
    caplog.set_level(logging.DEBUG)
    mock.get(f"{BASE}/jobs/j", exception=exception)
    with pytest.raises(APIConnectionError) as info:
        await transport.request("GET", "jobs/j")
    assert_exception_redacted(info.value)
    assert_no_key(repr(info.value.__cause__), repr(info.value.__context__))
    assert_logs_redacted(caplog)


async def test_key_never_in_requester_retry_logs_or_final_error(
    transport: Transport, mock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    events: list[Any] = []
    requester = Requester(transport, limiter=AdaptiveLimiter(4), policy=FAST, timeout=5.0,
                          hook=events.append)
    for _ in range(3):
        mock.get(f"{BASE}/jobs/j", status=503, payload={"detail": "busy"},
                 headers={"Retry-After": "0"})
    with pytest.raises(ServerError) as info:
        await requester.call("GET", "jobs/j", kind=Idempotency.SAFE)
    assert len(calls(mock, "GET", f"{BASE}/jobs/j")) == 3
    assert any("retry" in r.getMessage() for r in caplog.records)
    assert_exception_redacted(info.value)
    assert_logs_redacted(caplog)
    assert_no_key(*(repr(e) for e in events))


# --- Downloads and redirects


@pytest.mark.parametrize(
    "url", [f"{BASE}/files/out.png?sig=abc", "https://cdn.phota-results.test/out.png?X-Sig=zz"]
)
async def test_downloads_never_carry_the_key(transport: Transport, mock: Any, url: str) -> None:
    mock.get(url, body=b"\x89PNG\r\n\x1a\nfake")
    async with transport.download(url) as resp:
        assert await resp.read() == b"\x89PNG\r\n\x1a\nfake"
    ((_, _, call),) = all_calls(mock)
    assert sent_key(call) is None


async def test_download_error_hides_signed_query(transport: Transport, mock: Any) -> None:
    url = "https://cdn.phota-results.test/out.png?X-Amz-Signature=deadbeef"
    mock.get(url, status=403, body="expired")
    with pytest.raises(APIStatusError) as info:
        async with transport.download(url):
            pass
    assert info.value.status == 403
    assert "deadbeef" not in str(info.value)
    assert "cdn.phota-results.test/out.png" in str(info.value)


@pytest.mark.parametrize(
    "location",
    [
        "https://evil.example/steal",
        "http://api.phota.test/v1/phota/jobs/j2",  # the same host, but in clear text
        "https://api.phota.test:8443/v1/phota/jobs/j2",  # another port
        "//evil.example/jobs/j2",
    ],
)
@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_redirect_to_another_origin_is_refused(
    transport: Transport, mock: Any, location: str, status: int
) -> None:
    mock.get(f"{BASE}/jobs/j1", status=status, headers={"Location": location})
    mock.get(URL(f"{BASE}/jobs/j1").join(URL(location)), payload={"stolen": True})
    with pytest.raises(APIStatusError) as info:
        await transport.request("GET", "jobs/j1")
    assert "redirect" in str(info.value) and info.value.status == status
    assert_exception_redacted(info.value)
    requested = [(m, url) for m, url, _ in all_calls(mock)]
    assert requested == [("GET", URL(f"{BASE}/jobs/j1"))]


async def test_redirect_within_the_api_is_followed(transport: Transport, mock: Any) -> None:
    mock.get(f"{BASE}/jobs/j1", status=307, headers={"Location": "/v1/phota/jobs/j1-moved"})
    mock.get(f"{BASE}/jobs/j1-moved", payload={"job_id": "j1", "status": "done"})
    response = await transport.request("GET", "jobs/j1")
    assert response.json() == {"job_id": "j1", "status": "done"}
    (call,) = calls(mock, "GET", f"{BASE}/jobs/j1-moved")
    assert sent_key(call) == KEY


async def test_redirect_loop_stops(transport: Transport, mock: Any) -> None:
    mock.get(f"{BASE}/jobs/a", status=302, headers={"Location": f"{BASE}/jobs/a"}, repeat=True)
    with pytest.raises(APIConnectionError, match="redirect"):
        await transport.request("GET", "jobs/a")
    assert 1 < len(calls(mock, "GET", f"{BASE}/jobs/a")) <= 10


# --- Real sockets


class Recorder:
    """A loopback server that records the headers of every request it gets."""

    def __init__(self, routes: dict[str, Any]) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        app = web.Application()

        async def handle(request: web.Request) -> web.StreamResponse:
            self.seen.append((request.path, dict(request.headers)))
            answer = routes.get(request.path)
            if callable(answer):
                return answer(request)
            if isinstance(answer, bytes):
                return web.Response(body=answer, content_type="image/png")
            return web.json_response(answer or {"ok": True})

        app.router.add_route("*", "/{tail:.*}", handle)
        self.server = TestServer(app, host="127.0.0.1")

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    async def __aenter__(self) -> Recorder:
        await self.server.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.close()


async def test_real_download_from_the_api_host_sends_no_key() -> None:
    async with Recorder({"/v1/phota/files/a.png": b"\x89PNG-bytes"}) as api:
        t = Transport(api_key=KEY, base_url=f"{api.url}/v1/phota")
        try:
            await t.request("GET", "profiles/ids")
            async with t.download(f"{api.url}/v1/phota/files/a.png?sig=1") as resp:
                assert await resp.read() == b"\x89PNG-bytes"
        finally:
            await t.aclose()
    (api_path, api_headers), (dl_path, dl_headers) = api.seen
    assert api_path == "/v1/phota/profiles/ids" and api_headers.get("X-API-Key") == KEY
    assert dl_path == "/v1/phota/files/a.png"
    assert "X-API-Key" not in dl_headers
    assert KEY not in json.dumps(dl_headers)


async def test_real_redirect_to_another_server_never_reaches_it() -> None:
    async with Recorder({}) as other:
        def redirect(_: web.Request) -> web.StreamResponse:
            raise web.HTTPFound(f"{other.url}/collect")

        async with Recorder({"/v1/phota/jobs/j1": redirect}) as api:
            t = Transport(api_key=KEY, base_url=f"{api.url}/v1/phota")
            try:
                with pytest.raises(APIStatusError) as info:
                    await t.request("GET", "jobs/j1")
            finally:
                await t.aclose()
    assert other.seen == []
    assert len(api.seen) == 1
    assert info.value.status == 302
    assert_exception_redacted(info.value)


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_connection_refused_means_request_not_sent(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    t = Transport(api_key=KEY, base_url=f"http://127.0.0.1:{_closed_port()}/v1/phota")
    try:
        with pytest.raises(APIConnectionError) as info:
            await t.request("POST", "profiles/add", json_body={"image_urls": []}, timeout=5)
    finally:
        await t.aclose()
    exc = info.value
    assert not isinstance(exc, APITimeoutError)
    assert exc.request_sent is False
    assert "127.0.0.1" in str(exc)
    assert_exception_redacted(exc)
    assert_logs_redacted(caplog)


async def test_download_connection_refused() -> None:
    t = Transport(api_key=KEY, base_url=BASE)
    try:
        with pytest.raises(APIConnectionError) as info:
            async with t.download(f"http://127.0.0.1:{_closed_port()}/a.png?sig=s3cr3t"):
                pass
    finally:
        await t.aclose()
    assert info.value.request_sent is False
    assert "s3cr3t" not in str(info.value)


async def test_a_slow_server_times_out_as_sent() -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        import asyncio

        await asyncio.sleep(5)  # cancelled when the server closes
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/v1/phota/jobs/j", slow)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    t = Transport(api_key=KEY, base_url=str(server.make_url("/v1/phota")))
    try:
        with pytest.raises(APITimeoutError) as info:
            await t.request("GET", "jobs/j", timeout=0.1)
    finally:
        await t.aclose()
        await server.close()
    assert info.value.request_sent is True
    assert_exception_redacted(info.value)


# --- Mapped connection failures


@pytest.mark.parametrize(
    ("exception", "cls", "sent"),
    [
        (aiohttp.ServerDisconnectedError(), APIConnectionError, True),
        (aiohttp.ServerTimeoutError("read"), APITimeoutError, True),
        (aiohttp.ConnectionTimeoutError("connect"), APITimeoutError, False),
        (TimeoutError(), APITimeoutError, True),
    ],
)
async def test_connection_failures_map_to_api_errors(
    transport: Transport, mock: Any, exception: Exception, cls: type[APIConnectionError], sent: bool
) -> None:
    mock.post(f"{BASE}/generate", exception=exception)
    with pytest.raises(cls) as info:
        await transport.request("POST", "generate", json_body={"prompt": "x"})
    assert type(info.value) is cls
    assert info.value.request_sent is sent


# --- Through the Requester


async def test_requester_retries_a_get_after_429_and_shrinks_the_limit(
    transport: Transport, mock: Any
) -> None:
    limiter = AdaptiveLimiter(8)
    requester = Requester(transport, limiter=limiter, policy=FAST, timeout=5.0)
    mock.get(f"{BASE}/jobs/j", status=429, headers={"Retry-After": "0"})
    mock.get(f"{BASE}/jobs/j", payload={"job_id": "j", "status": "done"})
    response = await requester.call("GET", "jobs/j", kind=Idempotency.SAFE)
    assert response.json()["status"] == "done"
    assert len(calls(mock, "GET", f"{BASE}/jobs/j")) == 2
    assert limiter.pushbacks == 1
    assert limiter.limit == 5  # halved to 4, then one success grew it back by one


async def test_requester_does_not_resend_an_unkeyed_post_after_a_500(
    transport: Transport, mock: Any
) -> None:
    requester = Requester(transport, limiter=AdaptiveLimiter(4), policy=FAST, timeout=5.0)
    mock.post(f"{BASE}/profiles/add", status=500, payload={"detail": "boom"}, repeat=True)
    with pytest.raises(ServerError) as info:
        await requester.call("POST", "profiles/add", kind=Idempotency.UNSAFE,
                             json_body={"image_urls": ["https://x/1.jpg"]},
                             how_to_check="List your profiles before trying again.")
    assert len(calls(mock, "POST", f"{BASE}/profiles/add")) == 1
    assert info.value.maybe_processed is True
    assert "List your profiles" in str(info.value)


async def test_requester_stops_submits_after_402(transport: Transport, mock: Any) -> None:
    requester = Requester(transport, limiter=AdaptiveLimiter(4), policy=FAST, timeout=5.0)
    mock.post(f"{BASE}/generate", status=402, payload={"detail": "Insufficient credit"},
              headers={"X-Request-Id": "r402"}, repeat=True)
    with pytest.raises(InsufficientCreditError):
        await requester.call("POST", "generate", kind=Idempotency.KEYED, submit=True)
    with pytest.raises(InsufficientCreditError) as info:
        await requester.call("POST", "generate", kind=Idempotency.KEYED, submit=True)
    assert info.value.request_id == "r402"
    assert len(calls(mock, "POST", f"{BASE}/generate")) == 1  # the second never left
    requester.reset_credit_breaker()
    with pytest.raises(InsufficientCreditError):
        await requester.call("POST", "generate", kind=Idempotency.KEYED, submit=True)
    assert len(calls(mock, "POST", f"{BASE}/generate")) == 2
