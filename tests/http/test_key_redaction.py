"""A server that echoes the API key, in any encoding, never puts it in our text (issue #10, item 7).

The key may come back JSON-escaped (``\\/``, ``\\uXXXX``), URL-encoded or base64-encoded, in a
body, the reason phrase or a header such as ``X-Request-Id``; none of it may reach an exception,
a log line or an ``on_event`` event.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator
from urllib.parse import quote

import pytest
from aiohttp import web

from phota_async import APIError, AsyncPhota, RequestEvent

from .hostile import FAST, KEY, client_of, hostile


def _unicode_escaped(text: str, every: int = 1) -> str:
    return "".join(f"\\u{ord(c):04X}" if i % every == 0 else c for i, c in enumerate(text))


FORMS = {
    "literal": KEY,
    "slash-escaped": KEY.replace("/", "\\/"),
    "unicode-escaped": _unicode_escaped(KEY),
    "unicode-mixed": _unicode_escaped(KEY, every=3),
    "url-encoded": quote(KEY, safe=""),
    "url-encoded-lower": quote(KEY, safe="").replace("%2F", "%2f").replace("%2B", "%2b"),
    "base64": base64.b64encode(KEY.encode()).decode(),
    "base64-urlsafe": base64.urlsafe_b64encode(KEY.encode()).decode(),
    "basic-auth": base64.b64encode(b"user:" + KEY.encode()).decode(),
}


def leaks(text: str) -> list[str]:
    """The forms of the key found in ``text`` (base64 ones by their stable middle part)."""
    found = [name for name, form in FORMS.items() if form in text]
    for name in ("base64", "base64-urlsafe", "basic-auth"):
        if FORMS[name][8:-8] in text and name not in found:
            found.append(name)
    return found


def _bodies(form: str) -> dict[str, tuple[int, str, dict[str, str], str]]:
    """location -> (status, reason, headers, body text) of an answer that echoes ``form``."""
    json_type = {"Content-Type": "application/json"}
    return {
        "json-message": (400, "", json_type, f'{{"message": "bad key {form}", "detail": "x"}}'),
        "json-detail": (500, "", json_type, f'{{"detail": "you sent {form}"}}'),
        "json-422": (422, "", json_type,
                     f'{{"detail": [{{"loc": ["body", "{form}"], "msg": "{form}"}}]}}'),
        "json-type": (400, "", json_type, f'{{"type": "{form}", "detail": "x"}}'),
        "text-body": (502, "", {"Content-Type": "text/html"}, f"<h1>proxy saw {form}</h1>"),
        "reason": (503, f"Unavailable {form}", {}, ""),
        "request-id-header": (500, "", {"X-Request-Id": form, **json_type}, '{"detail": "x"}'),
        "request-id-body": (500, "", json_type, f'{{"detail": "x", "request_id": "{form}"}}'),
    }


LOCATIONS = list(_bodies("x"))


class Seen:
    """Everything the caller can see: the error, log lines and events."""

    def __init__(self) -> None:
        self.events: list[RequestEvent] = []

    def texts(self, error: BaseException | None, caplog: pytest.LogCaptureFixture) -> list[str]:
        texts = [record.getMessage() for record in caplog.records]
        texts += [repr(event) for event in self.events]
        texts += [str(event.error) for event in self.events if event.error is not None]
        if error is not None:
            texts += [str(error), repr(error), *map(str, error.args)]
            texts += [str(value) for value in vars(error).values()]
        return texts


@pytest.fixture
def seen(caplog: pytest.LogCaptureFixture) -> Seen:
    caplog.set_level(logging.DEBUG, logger="phota_async")
    return Seen()


@pytest.mark.parametrize("location", LOCATIONS)
@pytest.mark.parametrize("form", list(FORMS))
async def test_an_echoed_key_is_hidden_everywhere(
    form: str, location: str, seen: Seen, caplog: pytest.LogCaptureFixture
) -> None:
    status, reason, headers, text = _bodies(FORMS[form])[location]

    async def echo(request: web.Request) -> web.Response:
        return web.Response(status=status, reason=reason or None, headers=headers, text=text)

    async with hostile({"GET /jobs/j1": echo}) as api, \
            client_of(api, on_event=seen.events.append) as phota:
        with pytest.raises(APIError) as info:
            await phota.jobs.get("j1")
    assert api.hits["GET /jobs/j1"] >= 1
    for text_seen in seen.texts(info.value, caplog):
        assert leaks(text_seen) == [], text_seen


@pytest.mark.parametrize("form", list(FORMS))
async def test_an_echoed_key_on_a_success_is_hidden(
    form: str, seen: Seen, caplog: pytest.LogCaptureFixture
) -> None:
    """A request id or deprecation header, and a job's failure reason, on a 200."""
    echoed = FORMS[form]
    body = f'{{"job_id": "j1", "status": "failed", "error": {{"message": "bad {echoed}"}}}}'

    async def echo(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="application/json", headers={
            "X-Request-Id": echoed, "X-Phota-Deprecation-Date": echoed,
        })

    async with hostile({"GET /jobs/j1": echo}) as api, \
            client_of(api, on_event=seen.events.append) as phota:
        snapshot = await phota.jobs.get("j1")
        job = phota.jobs.attach("j1")
        await job.refresh()  # reads the failure: awaiting then raises at once
        with pytest.raises(Exception) as info:
            await job
    assert snapshot.error is not None
    for text_seen in [*seen.texts(info.value, caplog), repr(snapshot)]:
        assert leaks(text_seen) == [], text_seen


@pytest.fixture
async def garbled_status_line() -> AsyncIterator[str]:
    """A raw server whose status line is not HTTP and carries the key."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(f"HTTX/1.1 500 {KEY}\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1/phota"
    finally:
        server.close()
        await server.wait_closed()


async def test_a_garbled_answer_does_not_leak_through_the_parser_error(
    garbled_status_line: str, seen: Seen, caplog: pytest.LogCaptureFixture
) -> None:
    async with AsyncPhota(api_key=KEY, base_url=garbled_status_line, retry=FAST,
                          on_event=seen.events.append) as phota:
        with pytest.raises(APIError) as info:
            await phota.jobs.get("j1")
    for text_seen in seen.texts(info.value, caplog):
        assert leaks(text_seen) == [], text_seen


def test_the_leak_detector_sees_every_form() -> None:
    """The check above would be worthless if ``leaks`` missed a form."""
    for name, form in FORMS.items():
        assert name in leaks(f"x {form} y")
    assert leaks("nothing here") == []


@pytest.mark.parametrize("at", [470, 490, 499])
async def test_an_excerpt_cut_through_an_echoed_key_shows_no_part_of_it(at: int) -> None:
    """An unusable answer keeps the start of its text: the cut must not leave half a key."""
    text = "x" * at + FORMS["unicode-escaped"] + "y" * 600

    async with hostile({"GET /jobs/j1": lambda _: _text(text)}) as api, client_of(api) as phota:
        with pytest.raises(APIError) as info:
            await phota.jobs.get("j1")
    body: str = info.value.body  # type: ignore[attr-defined]
    assert body.startswith("xxx") and "\\u" not in body and KEY[:4] not in body


async def _text(text: str) -> web.Response:
    return web.Response(text=text, content_type="application/json")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32-be"])
async def test_a_key_echoed_in_utf16_or_utf32_json_is_hidden(
    encoding: str, seen: Seen, caplog: pytest.LogCaptureFixture
) -> None:
    """JSON may be UTF-16 or UTF-32 (``json.loads`` reads them): the quick check that spares
    plain answers the scrub must not be blind to a key whose bytes are interleaved with zeros."""
    body = f'{{"job_id": "j1", "status": "failed", "error": {{"message": "bad {KEY}"}}}}'

    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=body.encode(encoding), content_type="application/json")

    async with hostile({"GET /jobs/j1": echo}) as api, \
            client_of(api, on_event=seen.events.append) as phota:
        snapshot = await phota.jobs.get("j1")
        job = phota.jobs.attach("j1")
        await job.refresh()
        with pytest.raises(Exception) as info:
            await job
    assert snapshot.error is not None and snapshot.error.message is not None
    assert snapshot.error.message.startswith("bad ")
    for text_seen in [*seen.texts(info.value, caplog), repr(snapshot)]:
        assert leaks(text_seen) == [], text_seen
