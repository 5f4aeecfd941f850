"""Fixtures: a running emulator with short emulated durations, and a raw aiohttp client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from emu_http import Api

from phota_async.emulator import PhotaEmulator

FAST_JOBS = {"generate": 30.0, "edit": 30.0, "enhance": 30.0, "remix": 30.0}  # 0.05 s real each


@pytest.fixture
def emu_options() -> dict[str, Any]:
    return {}


@pytest.fixture
async def emu(emu_options: dict[str, Any]) -> AsyncIterator[PhotaEmulator]:
    options: dict[str, Any] = {"job_seconds": FAST_JOBS, "training_seconds": 60.0, **emu_options}
    async with PhotaEmulator(**options) as emulator:
        yield emulator


@pytest.fixture
async def api(emu: PhotaEmulator) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(emu, session)
