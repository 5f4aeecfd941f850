"""RedisCoordination against a real redis-server: one budget, one 429 pause and webhook fan-out
across clients that share nothing but Redis (each with its own ``RedisCoordination``, as
separate processes would have)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from phota_async import (
    APITimeoutError,
    AsyncPhota,
    PollConfig,
    RateLimitError,
    RedisCoordination,
)
from phota_async.emulator import PhotaEmulator, sign
from tests.conftest import TIME_SCALE, job_gets, make_client, wait_until
from tests.coord.conftest import RedisServer
from tests.coord.test_inprocess import ONE_ATTEMPT, SLOW
from tests.resources.test_webhooks import FAST_JOBS, post, receiver

# The first poll of a job with a callback comes after ~2 real seconds: a job resolved sooner
# was resolved by a callback.
LATE_POLLS = PollConfig(time_scale=TIME_SCALE, callback_grace=20.0)


@asynccontextmanager
async def process(
    emu: PhotaEmulator, server: RedisServer, *, coord_options: dict[str, Any] | None = None,
    **options: object,
) -> AsyncIterator[AsyncPhota]:
    """A client as one worker process would have it: its own coordination on the shared Redis."""
    coordination = RedisCoordination(server.url, **(coord_options or {}))
    async with make_client(emu, coordination=coordination, **options) as client:
        await wait_until(lambda: coordination.subscribed)
        yield client


# --- The budget and the pause ------------------------------------------------------------


async def test_processes_share_one_budget(
    emulator: PhotaEmulator, redis_server: RedisServer
) -> None:
    budget = {"rate_limit": SLOW, "burst": 3}
    async with process(emulator, redis_server, coord_options=budget) as first, process(
        emulator, redis_server, coord_options=budget, timeout=0.2
    ) as second:
        for client in (first, second, first):
            await client.profiles.list()
        with pytest.raises(APITimeoutError) as caught:
            await second.profiles.list()  # its place would come in ~1,000 s
        assert caught.value.request_sent is False
        assert len(emulator.api_requests("/profiles/ids")) == 3


async def test_the_budget_holds_for_a_process_that_comes_later(
    emulator: PhotaEmulator, redis_server: RedisServer
) -> None:
    budget = {"rate_limit": SLOW, "burst": 2}
    async with process(emulator, redis_server, coord_options=budget) as first:
        await first.profiles.list()
        await first.profiles.list()
    async with process(emulator, redis_server, coord_options=budget, timeout=0.2) as restarted:
        with pytest.raises(APITimeoutError):
            await restarted.profiles.list()
    assert len(emulator.api_requests("/profiles/ids")) == 2


@pytest.mark.parametrize("budget", [{}, {"rate_limit": 1000.0}], ids=["no-budget", "budget"])
async def test_a_429_pauses_every_process(
    emulator: PhotaEmulator, redis_server: RedisServer, budget: dict[str, Any]
) -> None:
    async with process(emulator, redis_server, coord_options=budget, retry=ONE_ATTEMPT) as (
        first
    ), process(emulator, redis_server, coord_options=budget, timeout=0.2) as second:
        emulator.inject("/profiles/ids", status=429, retry_after="30", times=1)
        with pytest.raises(RateLimitError):
            await first.profiles.list()
        coordination: Any = second.coordination
        await wait_until(lambda: coordination.pause_left > 20)  # heard in the other process
        with pytest.raises(APITimeoutError) as caught:
            await second.profiles.list()
        assert caught.value.request_sent is False
        assert len(emulator.api_requests("/profiles/ids")) == 1
    # A process starting during the pause holds its requests too.
    async with process(emulator, redis_server, coord_options=budget, timeout=0.2) as late:
        assert late.coordination.pause_left > 20  # type: ignore[attr-defined]
        with pytest.raises(APITimeoutError):
            await late.profiles.list()
    assert len(emulator.api_requests("/profiles/ids")) == 1


async def test_without_a_shared_budget_requests_are_not_held(
    emulator: PhotaEmulator, redis_server: RedisServer
) -> None:
    async with process(emulator, redis_server, timeout=5.0) as first, process(
        emulator, redis_server, timeout=5.0
    ) as second:
        for _ in range(10):
            await first.profiles.list()
            await second.profiles.list()
        assert len(emulator.api_requests("/profiles/ids")) == 20


async def test_prefixes_keep_two_accounts_apart(
    emulator: PhotaEmulator, redis_server: RedisServer
) -> None:
    one = {"rate_limit": SLOW, "burst": 1, "prefix": "account-a"}
    other = {"rate_limit": SLOW, "burst": 1, "prefix": "account-b"}
    async with process(emulator, redis_server, coord_options=one) as first, process(
        emulator, redis_server, coord_options=other
    ) as second:
        await first.profiles.list()
        await second.profiles.list()  # another account's budget is untouched
    assert len(emulator.api_requests("/profiles/ids")) == 2


# --- Webhook fan-out ---------------------------------------------------------------------


@asynccontextmanager
async def web_and_worker(
    server: RedisServer, **emulator_options: Any
) -> AsyncIterator[tuple[PhotaEmulator, AsyncPhota, AsyncPhota, Any]]:
    """An emulator, a 'web' process receiving callbacks and a 'worker' process awaiting jobs."""
    async with PhotaEmulator(time_scale=TIME_SCALE, **emulator_options) as emu, process(
        emu, server, poll=LATE_POLLS
    ) as web, process(emu, server, poll=LATE_POLLS) as worker, receiver(web) as rec:
        yield emu, web, worker, rec


async def test_a_callback_received_by_one_process_resolves_the_job_in_another(
    redis_server: RedisServer,
) -> None:
    async with web_and_worker(redis_server, job_seconds=FAST_JOBS) as (emu, _web, worker, rec):
        job = await worker.generate("a lighthouse", callback_url=rec.url, num_output_images=2)
        result = await job.result(timeout=30)  # long before its first poll was due
        assert len(result.download_urls) == 2 and rec.answers == [204]
        assert job_gets(emu, job.id) == 1
        get = emu.api_requests(f"/jobs/{job.id}")[0]
        assert get.time >= emu.jobs[str(job.id)].due_at  # the confirming GET, after the callback


async def test_only_a_verified_callback_crosses_and_only_its_job_id(
    redis_server: RedisServer, raw_redis: Any
) -> None:
    async with web_and_worker(redis_server) as (emu, _web, worker, rec):
        listener = raw_redis.pubsub(ignore_subscribe_messages=True)
        await listener.subscribe("phota:due")
        job = await worker.generate("wait for it", callback_url=rec.url)
        forged = json.dumps({"job_id": job.id, "status": "completed"}).encode()
        assert await post(rec.url, forged, sign("guessed-secret", forged)) == 401
        body = json.dumps({"job_id": job.id, "status": "completed", "note": "x" * 500}).encode()
        assert await post(rec.url, body, sign(emu.webhook_secret, body)) == 204
        data = await next_message(listener, timeout=5.0)
        assert data is not None and data.endswith(f":{job.id}".encode())
        assert len(data) < 64  # the id, never the callback's body
        assert await next_message(listener, timeout=0.05) is None  # none for the forged one
        await listener.aclose()
        await wait_until(lambda: job_gets(emu, job.id) == 1)
        assert not job.done()  # the server says it still runs: a callback only says "look"


async def next_message(listener: Any, *, timeout: float) -> bytes | None:
    """The next published message's data (the subscription's own confirmation is skipped)."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        message = await listener.get_message(timeout=left)
        if message is not None:
            return bytes(message["data"])
    return None


@pytest.mark.parametrize(
    "message",
    [b"someone:job/../../x", b"someone:", b"no-colon", b"someone:" + b"j" * 600, b"\xff\xfe:\x00"],
)
async def test_a_malformed_announcement_is_dropped(
    redis_server: RedisServer, raw_redis: Any, message: bytes
) -> None:
    async with web_and_worker(redis_server) as (emu, _web, worker, rec):
        job = await worker.generate("wait for it", callback_url=rec.url)
        assert await raw_redis.publish("phota:due", message) == 2
        await raw_redis.publish("phota:due", f"someone:{job.id}".encode())
        await wait_until(lambda: job_gets(emu, job.id) == 1)  # only the well-formed one


async def test_clients_of_one_process_can_share_one_redis_coordination(
    emulator: PhotaEmulator, redis_server: RedisServer
) -> None:
    shared = RedisCoordination(redis_server.url)
    first = make_client(emulator, coordination=shared)
    async with first, make_client(emulator, coordination=shared) as second:
        await first.profiles.list()
        await first.aclose()
        assert shared.healthy  # still open for the other client
        await second.profiles.list()
    assert not shared.healthy and not shared.subscribed  # closed with the last one
