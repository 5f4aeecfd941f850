"""Small malicious API servers on loopback, for the hardening tests of ``tests/http``.

Each test builds an ``aiohttp.web`` app from a few handlers that answer the way a compromised or
broken server (or proxy) would, and points a real client at it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from phota_async import AsyncPhota, RetryPolicy

# A key with '/' and '+', so that JSON (\/), URL (%2F, %2B) and base64 forms all differ from it.
KEY = "pk_live/S3cr3t+Key_0123456789abcdefXYZ"
FAST = RetryPolicy(max_attempts=3, backoff_initial=0.001, backoff_max=0.002, retry_after_cap=0.01)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Hostile:
    """A loopback server answering ``routes`` (``"METHOD /path"`` under ``/v1/phota``); it
    counts the requests each route received in ``hits``."""

    def __init__(self, routes: dict[str, Handler]) -> None:
        self.hits: dict[str, int] = dict.fromkeys(routes, 0)
        app = web.Application()
        for route, handler in routes.items():
            method, path = route.split(" ", 1)
            app.router.add_route(method, "/v1/phota" + path, self._counted(route, handler))
        self.server = TestServer(app, host="127.0.0.1")

    def _counted(self, route: str, handler: Handler) -> Handler:
        async def counted(request: web.Request) -> web.StreamResponse:
            self.hits[route] += 1
            return await handler(request)

        return counted

    @property
    def url(self) -> str:
        """The API base URL of this server."""
        return str(self.server.make_url("/v1/phota"))


@asynccontextmanager
async def hostile(routes: dict[str, Handler]) -> AsyncIterator[Hostile]:
    """Run a :class:`Hostile` server for the duration of the block."""
    api = Hostile(routes)
    await api.server.start_server()
    try:
        yield api
    finally:
        await api.server.close()


@asynccontextmanager
async def client_of(api: Hostile, **options: Any) -> AsyncIterator[AsyncPhota]:
    """A client of ``api`` with the test key and fast retries."""
    settings: dict[str, Any] = {"api_key": KEY, "base_url": api.url, "retry": FAST, "seed": 1}
    settings.update(options)
    async with AsyncPhota(**settings) as phota:
        yield phota


def answer(body: Any = None, *, status: int = 200, text: str | None = None,
           **kwargs: Any) -> Handler:
    """A handler that always answers ``body`` as JSON (or ``text`` as it is)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        if text is not None:
            return web.Response(status=status, text=text, **kwargs)
        return web.json_response(body, status=status, **kwargs)

    return handler
