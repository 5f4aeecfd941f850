"""A client used from a second event loop fails clearly, before sending anything (issue #10,
item 12).

Notebooks and scripts create a client in one ``asyncio.run`` and use it in the next. Its
session, limiter and poll scheduler belong to the first loop: a paid request sent from the
second could not be answered, so nothing may be sent. These tests are synchronous: each runs
its own ``asyncio.run`` calls, against a server that runs in a thread of its own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from phota_async import AsyncPhota, Job, PhotaError

from .hostile import FAST, KEY


class ThreadedServer:
    """A tiny API on loopback in its own thread and loop; counts requests per route."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _handle(self, request: web.Request) -> web.Response:
        route = f"{request.method} {request.path}"
        self.hits[route] = self.hits.get(route, 0) + 1
        if request.method == "POST":
            return web.json_response({"job_id": "j1", "poll_url": "/jobs/j1"}, status=202)
        return web.json_response({"job_id": "j1", "status": "running"})

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/v1/phota/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/v1/phota"
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def posts(self) -> int:
        return sum(n for route, n in self.hits.items() if route.startswith("POST"))


@pytest.fixture
def server() -> Iterator[ThreadedServer]:
    with ThreadedServer() as running:
        yield running


def _client(server: ThreadedServer) -> AsyncPhota:
    return AsyncPhota(api_key=KEY, base_url=server.url, retry=FAST, seed=1)


def _run_guarded(coro: Any) -> Any:
    """``asyncio.run`` with a guard that turns a hang into a failure (never reached when the
    behaviour is right; nothing is asserted about time)."""

    async def guarded() -> Any:
        async with asyncio.timeout(20):
            return await coro

    return asyncio.run(guarded())


def test_a_submit_from_a_second_loop_is_refused_before_sending(server: ThreadedServer) -> None:
    phota = _client(server)
    _run_guarded(phota.jobs.get("j1"))  # the first loop: the client binds to it
    with pytest.raises(PhotaError, match="event loop") as info:
        _run_guarded(phota.generate("a cat"))
    assert server.posts() == 0  # nothing was sent, so nothing was paid
    assert "asyncio.run" in str(info.value)


def test_a_job_awaited_in_a_second_loop_fails_instead_of_hanging(
    server: ThreadedServer,
) -> None:
    phota = _client(server)
    job: Job = _run_guarded(phota.generate("a cat"))
    assert server.posts() == 1
    gets_before = server.hits.get("GET /v1/phota/jobs/j1", 0)

    async def wait() -> Any:
        return await job

    with pytest.raises(PhotaError, match="event loop"):
        _run_guarded(wait())
    with pytest.raises(PhotaError, match="event loop"):
        _run_guarded(job.refresh())
    assert server.hits.get("GET /v1/phota/jobs/j1", 0) == gets_before
    assert server.posts() == 1


def test_a_client_made_outside_any_loop_binds_to_its_first(server: ThreadedServer) -> None:
    phota = _client(server)  # made in plain sync code, as scripts do

    async def use() -> str | None:
        async with phota:
            job = await phota.generate("a cat")
            return job.id

    assert _run_guarded(use()) == "j1"
    assert server.posts() == 1


def test_one_client_per_loop_works(server: ThreadedServer) -> None:
    async def use() -> str | None:
        async with _client(server) as phota:
            return (await phota.generate("a cat")).id

    assert [_run_guarded(use()), _run_guarded(use())] == ["j1", "j1"]
    assert server.posts() == 2
