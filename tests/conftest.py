"""Shared fixtures: an in-process emulator in scaled time and a client pointed at it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from phota_async import AsyncPhota, PollConfig, RetryPolicy
from phota_async.emulator import PhotaEmulator, sample_photo

TIME_SCALE = 600.0
# Retries in tests wait milliseconds, never seconds.
FAST_RETRY = RetryPolicy(backoff_initial=0.001, backoff_max=0.005, retry_after_cap=0.02)


@pytest.fixture
async def emulator() -> AsyncIterator[PhotaEmulator]:
    async with PhotaEmulator(time_scale=TIME_SCALE) as emu:
        yield emu


def make_client(emu: PhotaEmulator, **options: object) -> AsyncPhota:
    """A client of ``emu`` with the poll cadence and retries scaled for tests."""
    settings: dict[str, object] = {
        "api_key": emu.api_key,
        "base_url": emu.url,
        "poll": PollConfig(time_scale=TIME_SCALE),
        "retry": FAST_RETRY,
        "seed": 1,
    }
    settings.update(options)
    return AsyncPhota(**settings)  # type: ignore[arg-type]


@pytest.fixture
async def phota(emulator: PhotaEmulator) -> AsyncIterator[AsyncPhota]:
    async with make_client(emulator) as client:
        yield client


def photo(index: int = 0, *, fmt: str = "jpeg", size: int = 64) -> bytes:
    """A small real photo (a subject on a background) from the emulator's generator."""
    return sample_photo(index, fmt=fmt, size=size)  # type: ignore[arg-type]


def training_photos(count: int = 10, *, size: int = 1024) -> list[bytes]:
    """Distinct photos large enough to pass the pre-flight checks without warnings."""
    return [sample_photo(i, size=size) for i in range(count)]


def job_gets(emu: PhotaEmulator, job_id: object) -> int:
    """How many status requests the emulator received for one job."""
    return len(emu.api_requests(f"/jobs/{job_id}", "GET"))


async def wait_until(condition: Callable[[], object], *, timeout: float = 2.0) -> None:
    """Poll ``condition`` every 2 ms until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.002)


@asynccontextmanager
async def serve(*routes: web.RouteDef) -> AsyncIterator[str]:
    """An aiohttp server of ``routes`` on a free loopback port; yields its origin."""
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


# --- Virtual time ---------------------------------------------------------------------------------
# A test marked ``@pytest.mark.looptime`` runs on a fast-forwarding loop clock (the looptime
# plugin): every timer of the SDK and of the emulator reads the loop's clock, so an hour of job
# time passes in milliseconds, exactly and repeatably. Fixtures run on the real clock: make the
# emulator and the client inside such a test, with these two.


def virtual_emulator(**options: Any) -> PhotaEmulator:
    """An emulator whose emulated seconds are loop seconds (``async with`` it in the test).

    Its outputs are plain pictures unless a test asks otherwise: drawn ones are drawn in worker
    threads, and looptime moves the virtual clock in steps while a thread works, so the real
    time of the drawing (longer on a loaded machine) leaked into the figures of the test.
    """
    options.setdefault("plain_outputs", True)
    return PhotaEmulator(time_scale=1.0, **options)


def virtual_client(emu: PhotaEmulator, **options: object) -> AsyncPhota:
    """A client of ``emu`` at the real cadence (no time scale; ``poll=`` to tune it)."""
    options.setdefault("poll", PollConfig())
    return make_client(emu, **options)
