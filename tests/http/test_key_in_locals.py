"""No frame of a raised error holds the API key in a local (issue #10, item 8).

Error reporters record the local variables of every frame in an error's traceback (Sentry does
by default), following ``__cause__``, or ``__context__`` unless it is suppressed. Each test makes
a request fail in a different way and walks those frames as such a reporter would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import pytest
from aiohttp import web

from phota_async import APIError, AsyncPhota, PhotaError

from .hostile import FAST, KEY, answer, client_of, hostile


def _serialised(value: Any, depth: int = 0) -> str:
    """Roughly what a reporter stores for a local: containers walked, the rest repr'd."""
    if depth > 8:
        return "..."
    if isinstance(value, Mapping):
        return "{" + ", ".join(
            f"{_serialised(k, depth + 1)}: {_serialised(v, depth + 1)}" for k, v in value.items()
        ) + "}"
    if isinstance(value, list | tuple | set | frozenset):
        return "[" + ", ".join(_serialised(v, depth + 1) for v in value) + "]"
    if isinstance(value, bytes | bytearray):
        return value.decode("latin-1")
    try:
        return repr(value)
    except Exception:  # a repr that fails is recorded as a placeholder
        return "<unrepresentable>"


def _chain(error: BaseException | None) -> list[BaseException]:
    chain: list[BaseException] = []
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ if error.__suppress_context__ else error.__context__
    return chain


def key_holders(error: BaseException) -> list[str]:
    """``function:variable`` of every frame local (in the reported chain) that holds the key."""
    found = []
    for link in _chain(error):
        tb: TracebackType | None = link.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            for name, value in frame.f_locals.items():
                if KEY in _serialised(value):
                    found.append(f"{frame.f_code.co_name}:{name}")
            tb = tb.tb_next
        found += [f"{type(link).__name__}.{name}" for name, value in vars(link).items()
                  if KEY in _serialised(value)]
    return found


async def _hang(request: web.Request) -> web.Response:
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")


async def _drop(request: web.Request) -> web.StreamResponse:
    assert request.transport is not None
    request.transport.close()
    return web.Response()


async def _redirect_away(request: web.Request) -> web.Response:
    return web.Response(status=302, headers={"Location": "http://203.0.113.9/steal"})


FAILURES: dict[str, tuple[str, Any, dict[str, Any]]] = {
    "server-error": ("GET /jobs/j1", answer({"detail": "boom"}, status=500), {}),
    "unauthorised": ("GET /jobs/j1", answer({"detail": "bad key"}, status=401), {}),
    "not-json": ("GET /jobs/j1", answer(text="<html>", content_type="text/html"), {}),
    "dropped": ("GET /jobs/j1", _drop, {}),
    "timeout": ("GET /jobs/j1", _hang, {"timeout": 0.2}),
    "redirect-off-origin": ("GET /jobs/j1", _redirect_away, {}),
}


@pytest.mark.parametrize("failure", list(FAILURES))
async def test_no_frame_of_a_failed_request_holds_the_key(failure: str) -> None:
    route, handler, options = FAILURES[failure]
    async with hostile({route: handler}) as api, client_of(api, **options) as phota:
        with pytest.raises(APIError) as info:
            await phota.jobs.get("j1")
    assert key_holders(info.value) == []


async def test_no_frame_of_a_failed_submit_holds_the_key() -> None:
    routes = {"POST /generate": answer(text="<html>", status=202, content_type="text/html")}
    async with hostile(routes) as api, client_of(api) as phota:
        with pytest.raises(APIError) as info:
            await phota.generate("a cat")
    assert key_holders(info.value) == []


async def test_no_frame_of_a_refused_connection_holds_the_key() -> None:
    async with AsyncPhota(api_key=KEY, base_url="http://127.0.0.1:9/v1", retry=FAST) as phota:
        with pytest.raises(PhotaError) as info:
            await phota.jobs.get("j1")
    assert key_holders(info.value) == []


def test_the_walk_finds_a_key_in_a_local() -> None:
    """The check above would be worthless if the walk missed a local holding the key."""

    def leaky() -> None:
        headers = {"X-API-Key": KEY}
        raise PhotaError(f"failed with {len(headers)} header(s)")

    with pytest.raises(PhotaError) as info:
        leaky()
    assert key_holders(info.value) == ["leaky:headers"]
