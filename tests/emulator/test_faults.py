"""Fault injection and the rate limiter."""

from __future__ import annotations

import asyncio
import email.utils
import math
import time

import aiohttp
import pytest
from emu_http import Api

from phota_async.emulator import PhotaEmulator

ASYNC = {"prompt": "x", "async": True, "response_mode": "urls", "output_format": "png"}


async def test_status_fault_fires_the_given_number_of_times(api: Api) -> None:
    handle = api.emu.inject(path="/generate", method="POST", status=503, times=1, retry_after="2")
    status, body, response = await api.call("POST", "/generate", json=ASYNC)
    assert (status, body["type"], response.headers["Retry-After"]) == (
        503,
        "SERVICE_UNAVAILABLE",
        "2",
    )
    assert (await api.post("/generate", ASYNC))[0] == 202
    assert handle.fired == 1
    assert len(api.emu.jobs) == 1  # the faulted request did nothing


async def test_retry_after_as_http_date(api: Api) -> None:
    api.emu.inject(path="/jobs/*", status=429, retry_after="date")
    before = math.floor(time.time())  # an HTTP date has whole seconds
    _, body, response = await api.call("GET", "/jobs/any")
    after = time.time()  # bounds that no delay of a loaded machine can break
    assert body["type"] == "RATE_LIMITED"
    when = email.utils.parsedate_to_datetime(response.headers["Retry-After"]).timestamp()
    assert before <= when <= after + 2


async def test_drop_before_does_nothing(api: Api) -> None:
    api.emu.inject(path="/generate", drop="before", times=1)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.post("/generate", ASYNC)
    assert api.emu.jobs == {} and api.emu.ledger == []


async def test_drop_after_creates_and_bills_the_job(api: Api) -> None:
    api.emu.inject(path="/generate", drop="after", times=1)
    body = {**ASYNC, "client_request_id": "retry-me"}
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.post("/generate", body)
    assert len(api.emu.jobs) == 1 and len(api.emu.ledger) == 1
    status, handle = await api.post("/generate", body)  # the SDK's retry
    assert status == 202 and handle["job_id"] in api.emu.jobs
    assert len(api.emu.ledger) == 1


async def test_drop_after_on_a_sync_call_still_bills(api: Api) -> None:
    api.emu.inject(path="/generate", drop="after", times=1)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.post("/generate", {"prompt": "x"})
    assert [charge.kind for charge in api.emu.ledger] == ["image"]


@pytest.mark.looptime
async def test_latency_and_slow_body() -> None:
    """In virtual time (the emulator made inside the test runs on the loop's clock): the answer
    takes the injected latency plus the slow body's time, and not a second more."""
    async with PhotaEmulator(time_scale=1.0) as emu, aiohttp.ClientSession() as session:
        api = Api(emu, session)
        emu.inject(path="*", latency=(0.05, 0.06))
        emu.inject(path="/profiles/ids", slow_body=0.1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        status, body = await api.get("/profiles/ids")
        took = loop.time() - started
    assert (status, body) == (200, {"profiles": []})
    assert 0.15 <= took < 1.0


async def test_slow_body_can_time_out_a_client_reading_it(api: Api) -> None:
    api.emu.inject(path="/profiles/ids", slow_body=0.5)
    timeout = aiohttp.ClientTimeout(sock_read=0.02)
    async with api.session.get(
        api.emu.url + "/profiles/ids", headers=api.headers, timeout=timeout
    ) as r:
        assert r.status == 200
        with pytest.raises(aiohttp.ServerTimeoutError):
            await r.read()


async def test_probability_uses_the_seeded_rng(api: Api) -> None:
    api.emu.inject(path="/jobs/*", status=(500, 502), probability=0.5)
    statuses = [(await api.get("/jobs/none"))[0] for _ in range(40)]
    assert set(statuses) == {404, 500, 502}


async def test_remove_and_clear(api: Api) -> None:
    handle = api.emu.inject(path="*", status=500)
    handle.remove()
    api.emu.inject(path="*", status=502)
    api.emu.clear_faults()
    assert (await api.get("/profiles/ids"))[0] == 200


async def test_faults_do_not_touch_the_bucket(api: Api) -> None:
    api.emu.inject(path="*", status=500)
    url = api.emu.put_object(b"x", "image/png")
    async with api.session.get(url) as response:
        assert response.status == 200


async def test_rate_limit_answers_429_with_retry_after(api: Api) -> None:
    api.emu.rate_limit(rps=5, burst=2, paths="/profiles/*")
    statuses = []
    for _ in range(3):
        status, body, response = await api.call("GET", "/profiles/ids")
        statuses.append(status)
    assert statuses == [200, 200, 429]
    assert body["type"] == "RATE_LIMITED" and response.headers["Retry-After"] == "1"
    assert (await api.get("/jobs/nope"))[0] == 404  # other paths are not limited


async def test_rate_limit_without_retry_after(api: Api) -> None:
    api.emu.rate_limit(rps=1, burst=1, retry_after=None)
    await api.get("/profiles/ids")
    _, _, response = await api.call("GET", "/profiles/ids")
    assert response.status == 429 and "Retry-After" not in response.headers


def test_a_fault_needs_an_effect() -> None:
    from phota_async.emulator import PhotaEmulator

    emu = PhotaEmulator()
    with pytest.raises(ValueError):
        emu.inject(path="*")
    with pytest.raises(ValueError):
        emu.inject(path="*", status=500, drop="after")
