"""The in-process coordination: the default (nothing shared beyond one client), and one instance
given to several clients of a process, which then share a budget, a 429 pause and callbacks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from phota_async import (
    APITimeoutError,
    AsyncPhota,
    Coordination,
    InProcessCoordination,
    InvalidInputError,
    PollConfig,
    RateLimitError,
    RetryPolicy,
)
from phota_async.emulator import PhotaEmulator, sign
from tests.conftest import TIME_SCALE, job_gets, make_client, wait_until
from tests.resources.test_webhooks import FAST_JOBS, post, receiver

# A place every 1,000 s: after the burst, the next place is never within a test's deadline.
SLOW = 0.001
# One attempt, and a 429's Retry-After taken as it is (up to a minute).
ONE_ATTEMPT = RetryPolicy(max_attempts=1, retry_after_cap=60.0)


@asynccontextmanager
async def two_clients(
    emu: PhotaEmulator, coordination: Coordination, **options: object
) -> AsyncIterator[tuple[AsyncPhota, AsyncPhota]]:
    async with make_client(emu, coordination=coordination, **options) as first, make_client(
        emu, coordination=coordination, **options
    ) as second:
        yield first, second


async def test_the_default_shares_nothing_between_clients(emulator: PhotaEmulator) -> None:
    async with make_client(emulator, retry=ONE_ATTEMPT) as first, make_client(
        emulator, timeout=5.0
    ) as second:
        assert isinstance(first.coordination, InProcessCoordination)
        assert first.coordination is not second.coordination
        emulator.inject("/profiles/ids", status=429, retry_after="30", times=1)
        with pytest.raises(RateLimitError):
            await first.profiles.list()
        # The other client is another island (as two processes were before coordination).
        assert await second.profiles.list() == []


async def test_clients_sharing_one_coordination_share_its_budget(emulator: PhotaEmulator) -> None:
    shared = InProcessCoordination(rate_limit=SLOW, burst=3)
    async with make_client(emulator, coordination=shared) as first, make_client(
        emulator, coordination=shared, timeout=0.2
    ) as second:
        for client in (first, second, first):
            await client.profiles.list()
        with pytest.raises(APITimeoutError) as caught:
            await second.profiles.list()
        assert caught.value.request_sent is False
        assert len(emulator.api_requests("/profiles/ids")) == 3


async def test_a_429_pauses_every_client_of_the_coordination(emulator: PhotaEmulator) -> None:
    shared = InProcessCoordination()
    async with make_client(emulator, coordination=shared, retry=ONE_ATTEMPT) as first, make_client(
        emulator, coordination=shared, timeout=0.2
    ) as second:
        emulator.inject("/profiles/ids", status=429, retry_after="30", times=1)
        with pytest.raises(RateLimitError):
            await first.profiles.list()
        with pytest.raises(APITimeoutError) as caught:
            await second.profiles.list()
        assert caught.value.request_sent is False
        assert len(emulator.api_requests("/profiles/ids")) == 1


async def test_a_callback_verified_by_one_client_resolves_the_job_another_awaits() -> None:
    shared = InProcessCoordination()
    poll = PollConfig(time_scale=TIME_SCALE, callback_grace=20.0)  # first poll after ~2 s
    async with PhotaEmulator(time_scale=TIME_SCALE, job_seconds=FAST_JOBS) as emu, two_clients(
        emu, shared, poll=poll
    ) as (web, worker), receiver(web) as rec:
        job = await worker.generate("a lighthouse", callback_url=rec.url)
        result = await job.result(timeout=30)
        assert len(result.download_urls) == 1 and rec.answers == [204]
        assert job_gets(emu, job.id) == 1  # the awaiting client's confirming GET, no other


async def test_a_forged_callback_reaches_no_other_client() -> None:
    # A job of an hour (6 s here): it cannot really end while the test runs, however loaded the
    # machine (with the docs' 55 s, 0.09 s here, a slow run saw it done).
    async with PhotaEmulator(time_scale=TIME_SCALE, job_seconds={"generate": 3600.0}) as emulator, \
            two_clients(emulator, InProcessCoordination()) as (web, worker), receiver(web) as rec:
        job = await worker.generate("wait for it", callback_url=rec.url)
        forged = json.dumps({"job_id": job.id, "status": "completed"}).encode()
        assert await post(rec.url, forged, sign("guessed-secret", forged)) == 401
        body = json.dumps({"job_id": job.id, "status": "completed"}).encode()
        assert await post(rec.url, body, sign(emulator.webhook_secret, body)) == 204
        await wait_until(lambda: job_gets(emulator, job.id) == 1)
        assert not job.done()  # the server says it is still running: the GET decides


async def test_an_announced_job_nobody_awaits_is_brought_up_to_date() -> None:
    async with PhotaEmulator(time_scale=TIME_SCALE, job_seconds=FAST_JOBS) as emu, two_clients(
        emu, InProcessCoordination()
    ) as (web, worker), receiver(web) as rec:
        job = await worker.generate("unwatched", callback_url=rec.url)
        await wait_until(lambda: rec.answers == [204])
        await wait_until(job.done)
        assert job_gets(emu, job.id) == 1


@pytest.mark.parametrize(
    ("options", "field"),
    [({"rate_limit": 0}, "rate_limit"), ({"rate_limit": -1.0}, "rate_limit"),
     ({"rate_limit": float("nan")}, "rate_limit"), ({"rate_limit": "20"}, "rate_limit"),
     ({"rate_limit": 5, "burst": 0}, "burst"), ({"rate_limit": 5, "burst": 1.5}, "burst")],
)
def test_a_bad_budget_is_refused_naming_the_field(options: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        InProcessCoordination(**options)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_a_client_refuses_something_that_is_not_a_coordination() -> None:
    with pytest.raises(InvalidInputError) as caught:
        AsyncPhota(api_key="k", base_url="http://127.0.0.1:1/v1/phota",
                   coordination="redis://localhost")  # type: ignore[arg-type]
    assert caught.value.field == "coordination"
