"""A thin raw HTTP client for the emulator tests: they speak HTTP themselves, never the SDK."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp

from phota_async.emulator import PhotaEmulator, sample_photo


class Api:
    def __init__(self, emu: PhotaEmulator, session: aiohttp.ClientSession) -> None:
        self.emu = emu
        self.session = session
        self.headers = {"X-API-Key": emu.api_key}

    async def call(
        self, method: str, path: str, *, json: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        url = path if path.startswith("http") else self.emu.url + path
        async with self.session.request(
            method, url, json=json, headers=self.headers if headers is None else headers
        ) as response:
            raw = await response.read()
            is_json = response.content_type == "application/json"
            return response.status, (await response.json() if is_json else raw), response

    async def post(self, path: str, body: Any, **kwargs: Any) -> tuple[int, Any]:
        status, data, _ = await self.call("POST", path, json=body, **kwargs)
        return status, data

    async def get(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        status, data, _ = await self.call("GET", path, **kwargs)
        return status, data

    async def poll(self, path: str, done: Callable[[Any], bool], *, within: float = 3.0) -> Any:
        """GET `path` every 10 ms until `done(body)`; the last body."""
        async with asyncio.timeout(within):
            while True:
                status, body = await self.get(path)
                assert status == 200, body
                if done(body):
                    return body
                await asyncio.sleep(0.01)

    async def train(self, count: int = 5, *, uniform: bool = False, **body: Any) -> str:
        urls = [
            self.emu.put_object(sample_photo(i, uniform=uniform), "image/jpeg")
            for i in range(count)
        ]
        tier = "fast" if count <= 10 else "standard"
        status, data = await self.post(
            "/profiles/add", {"image_urls": urls, "training_tier": tier, **body}
        )
        assert status == 200, data
        return str(data["profile_id"])


async def eventually(condition: Callable[[], bool], *, within: float = 3.0) -> None:
    """Wait (in 10 ms steps) until `condition()` holds; fail after `within` real seconds."""
    for _ in range(round(within / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")
