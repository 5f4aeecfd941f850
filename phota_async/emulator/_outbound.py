"""The emulator's own HTTP client: it fetches image URLs, as the real server does, and posts
callbacks."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

# Larger inputs are refused; real photos are far smaller.
MAX_FETCH_BYTES = 20 * 1024 * 1024


class FetchError(Exception):
    """A URL the server could not fetch; the message says why."""


class Outbound:
    """One lazily created client session (it must be created inside the running loop)."""

    def __init__(self, *, timeout: float) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def fetch(self, url: str) -> bytes:
        try:
            async with self._client().get(url) as response:
                if response.status != 200:
                    raise FetchError(f"HTTP {response.status}")
                data = await response.content.read(MAX_FETCH_BYTES + 1)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise FetchError(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc
        if len(data) > MAX_FETCH_BYTES:
            raise FetchError(f"larger than {MAX_FETCH_BYTES} bytes")
        return data

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        async with self._client().post(url, data=body, headers=dict(headers)) as response:
            await response.read()
            return response.status

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
