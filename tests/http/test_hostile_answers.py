"""API answers are bounded: size, nesting and time (issue #10, items 2 and 3's attempt budget).

A server (or proxy) that announces 2 GiB, streams without end, nests JSON 100k deep or drips a
byte at a time must give a clean ``PhotaError`` with memory bounded near the configured cap and
without holding a call forever. Sizes are small configured caps, so each test moves a few MB.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from aiohttp import web

from phota_async import (
    APIResponseError,
    APITimeoutError,
    AsyncPhota,
    RetryPolicy,
    ServerError,
)

from .hostile import answer, client_of, hostile

MB = 1024 * 1024
CAP = 1 * MB
# What a test may allocate beyond the cap: the client's own buffers, aiohttp's, the server's.
SLACK = 24 * MB
ONCE = RetryPolicy(max_attempts=1)


@contextmanager
def peak_memory() -> Iterator[list[int]]:
    """The peak of Python allocations inside the block, in bytes (read after the block)."""
    result: list[int] = []
    tracemalloc.start()
    try:
        yield result
    finally:
        result.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


def _streaming(first: bytes, *, total: int, content_length: int | None,
               chunk: bytes = b"x" * 65536, gzip_encoded: bool = False,
               status: int = 200) -> Callable[[web.Request], Any]:
    """A handler streaming ``first`` then ``chunk`` until ``total`` bytes (or the client
    leaves); ``content_length`` is what it announces (None: chunked)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=status, headers={
            "Content-Type": "application/json",
            **({"Content-Encoding": "gzip"} if gzip_encoded else {}),
        })
        if content_length is not None:
            response.content_length = content_length
        await response.prepare(request)
        sent = 0
        try:
            await response.write(first)
            while sent < total:
                await response.write(chunk)
                sent += len(chunk)
        except (ConnectionError, RuntimeError):
            return response  # the client hung up: what a good client does past its cap
        return response

    return handler


async def _get_job(phota: AsyncPhota) -> Any:
    return await phota.jobs.get("j1")


async def _list_profiles(phota: AsyncPhota) -> Any:
    return await phota.profiles.list()


async def test_a_2gib_content_length_is_refused_before_reading() -> None:
    # It really sends 32 MB (not 2 GiB) so that a client that reads it whole fails the memory
    # bound instead of exhausting the machine.
    handler = _streaming(b'{"profiles": ["', total=32 * MB, content_length=2 * 1024 ** 3)
    async with hostile({"GET /profiles/ids": handler}) as api, \
            client_of(api, retry=ONCE, max_response_bytes=CAP) as phota:
        with peak_memory() as peak, pytest.raises(APIResponseError, match="limit") as info:
            await _list_profiles(phota)
    assert peak[0] < CAP + SLACK
    assert "2147483648" in str(info.value) and info.value.status == 200


@pytest.mark.parametrize("route,call", [
    ("GET /profiles/ids", _list_profiles),
    ("GET /jobs/j1", _get_job),
], ids=["json-answer", "job-answer"])
async def test_an_endless_chunked_answer_stops_at_the_cap(route: str, call: Any) -> None:
    handler = _streaming(b'{"images": ["', total=64 * MB, content_length=None)
    async with hostile({route: handler}) as api, client_of(
        api, retry=ONCE, max_response_bytes=CAP, max_image_response_bytes=2 * CAP
    ) as phota:
        with peak_memory() as peak, pytest.raises(APIResponseError, match="limit"):
            await call(phota)
    assert peak[0] < 2 * CAP + SLACK


async def test_a_gzip_bomb_stops_at_the_cap() -> None:
    bomb = gzip.compress(b'{"profiles": ["' + b"x" * (64 * MB))
    handler = _streaming(bomb, total=0, content_length=len(bomb), gzip_encoded=True)
    async with hostile({"GET /profiles/ids": handler}) as api, \
            client_of(api, retry=ONCE, max_response_bytes=CAP) as phota:
        with peak_memory() as peak, pytest.raises(APIResponseError, match="limit"):
            await _list_profiles(phota)
    assert peak[0] < CAP + SLACK


async def test_a_huge_error_body_still_gives_the_status_error() -> None:
    """A proxy's giant 503 page is read up to the cap only, and stays a (retryable) 503."""
    handler = _streaming(b"<html>", total=32 * MB, content_length=None, status=503)
    async with hostile({"GET /jobs/j1": handler}) as api, \
            client_of(api, retry=ONCE, max_response_bytes=CAP) as phota:
        with peak_memory() as peak, pytest.raises(ServerError) as info:
            await _get_job(phota)
    assert peak[0] < CAP + SLACK
    assert info.value.status == 503 and len(info.value.body) <= CAP


async def test_inline_images_may_exceed_the_json_cap_up_to_their_own() -> None:
    """A synchronous ``response_mode=bytes`` answer carries megabytes of base64 images."""
    image = bytes(range(256)) * (12 * 1024)  # 3 MB
    body = {"images": [base64.b64encode(image).decode()], "download_urls": []}
    routes = {"POST /generate": answer(body)}
    async with hostile(routes) as api:
        async with client_of(api, max_response_bytes=CAP, max_image_response_bytes=8 * CAP) as ok:
            result = await (await ok.generate("a cat", mode="sync", response_mode="bytes"))
        assert result.images == [image]
        async with client_of(api, max_response_bytes=CAP, max_image_response_bytes=2 * CAP,
                             retry=ONCE) as small:
            with pytest.raises(APIResponseError, match="limit"):
                await small.generate("a cat", mode="sync", response_mode="bytes")


async def test_the_json_cap_is_the_default_for_ordinary_answers() -> None:
    body = {"profiles": ["p" * 1000] * 3000}  # 3 MB of profile ids
    async with hostile({"GET /profiles/ids": answer(body)}) as api:
        async with client_of(api, max_response_bytes=8 * CAP) as roomy:
            assert len(await roomy.profiles.list()) == 3000
        async with client_of(api, max_response_bytes=CAP, retry=ONCE) as tight:
            with pytest.raises(APIResponseError, match="max_response_bytes"):
                await tight.profiles.list()


# --- Depth -----------------------------------------------------------------------------------


@pytest.mark.parametrize("route,call", [
    ("GET /profiles/ids", _list_profiles),
    ("GET /jobs/j1", _get_job),
], ids=["json-answer", "job-answer"])
async def test_json_nested_100k_deep_is_a_clean_error(route: str, call: Any) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    routes = {route: answer(text=deep, content_type="application/json")}
    async with hostile(routes) as api, client_of(api) as phota:
        with pytest.raises(APIResponseError, match="nests deeper"):
            await call(phota)


async def test_a_deep_error_body_still_gives_the_status_error() -> None:
    deep = '{"detail": ' + "[" * 100_000 + "]" * 100_000 + "}"
    routes = {"GET /jobs/j1": answer(text=deep, status=500, content_type="application/json")}
    async with hostile(routes) as api, client_of(api, retry=ONCE) as phota:
        with pytest.raises(ServerError) as info:
            await _get_job(phota)
    assert info.value.detail is None  # the nesting was refused, the status kept


async def test_the_depth_limit_is_an_option() -> None:
    def nested(levels: int) -> str:
        return '{"profiles": ["p1"], "extra": ' + "[" * (levels - 1) + "]" * (levels - 1) + "}"

    async with hostile({
        "GET /profiles/ids": answer(text=nested(8), content_type="application/json"),
    }) as api:
        async with client_of(api, max_json_depth=8) as fits:
            await fits.profiles.list()
        async with client_of(api, max_json_depth=7) as tight:
            with pytest.raises(APIResponseError, match="deeper than 7"):
                await tight.profiles.list()


# --- Time ------------------------------------------------------------------------------------


@pytest.fixture
async def drip() -> AsyncIterator[Callable[[web.Request], Any]]:
    """A handler that sends its headers, then one byte every 20 ms, forever."""
    stop = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(b"{")
        try:
            while not stop.is_set():
                await asyncio.sleep(0.02)
                await response.write(b" ")
        except (ConnectionError, RuntimeError):
            pass
        return response

    yield handler
    stop.set()


async def test_a_slow_drip_answer_cannot_hold_an_attempt_forever(drip: Any) -> None:
    """Each byte comes well within the read timeout; only the attempt's total time ends it.
    The guard only turns a hang into a failure: nothing is asserted about elapsed time."""
    async with hostile({"GET /jobs/j1": drip}) as api, \
            client_of(api, attempt_timeout=0.2) as phota:
        async with asyncio.timeout(30):
            with pytest.raises(APITimeoutError, match="attempt_timeout") as info:
                await _get_job(phota)
    assert info.value.attempts == 3  # each attempt timed out on its own, then was retried
    assert api.hits["GET /jobs/j1"] == 3


def test_the_limits_are_documented_options() -> None:
    """A user finds each limit in the client's docstring (the defaults live in _constants)."""
    doc = AsyncPhota.__doc__ or ""
    for option in ("max_response_bytes", "max_image_response_bytes", "max_json_depth",
                   "attempt_timeout"):
        assert option in doc
