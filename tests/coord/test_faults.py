"""Redis down at start, lost mid-run and back, a wrong URL or password: what a user sees."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from phota_async import (
    AsyncPhota,
    CoordinationError,
    InvalidInputError,
    PollConfig,
    RedisCoordination,
)
from phota_async.emulator import PhotaEmulator
from tests.conftest import TIME_SCALE, job_gets, make_client, wait_until
from tests.coord.conftest import RedisServer, free_port
from tests.coord.test_redis import LATE_POLLS, process
from tests.resources.test_webhooks import FAST_JOBS, receiver

PASSWORD = "s3cret-pw-123"


def nowhere(password: str | None = None) -> str:
    """A loopback URL where no Redis listens."""
    auth = f":{password}@" if password else ""
    return f"redis://{auth}127.0.0.1:{free_port()}/0"


def assert_one_clean_line(text: str, *, password: str = PASSWORD) -> None:
    assert "\n" not in text and password not in text, text


# --- At start ------------------------------------------------------------------------------


async def test_redis_down_at_start_is_a_clear_error(emulator: PhotaEmulator) -> None:
    url = nowhere(PASSWORD)
    with pytest.raises(CoordinationError) as caught:
        async with make_client(emulator, coordination=RedisCoordination(url)):
            pytest.fail("the client started without its coordination")
    message = str(caught.value)
    assert_one_clean_line(message)
    assert "cannot use Redis at redis://:***@127.0.0.1:" in message
    assert emulator.api_requests() == []


async def test_without_async_with_the_first_request_fails_unsent(emulator: PhotaEmulator) -> None:
    phota = make_client(emulator, coordination=RedisCoordination(nowhere()))
    try:
        with pytest.raises(CoordinationError):
            await phota.profiles.list()
        assert emulator.api_requests() == []
    finally:
        await phota.aclose()


async def test_a_fallback_to_in_process_when_asked_for(
    emulator: PhotaEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    coordination = RedisCoordination(nowhere(PASSWORD), rate_limit=50, if_unavailable="local")
    with caplog.at_level(logging.WARNING, logger="phota_async"):
        async with make_client(emulator, coordination=coordination) as phota:
            assert not coordination.healthy
            for _ in range(3):
                await phota.profiles.list()
    assert len(emulator.api_requests("/profiles/ids")) == 3
    warnings = [r.getMessage() for r in caplog.records if "Redis" in r.getMessage()]
    assert len(warnings) == 1  # said once, not per request
    assert_one_clean_line(warnings[0])
    assert "local limiter" in warnings[0]


async def test_a_wrong_password_is_a_one_line_error_without_it(
    emulator: PhotaEmulator, redis_with_password: RedisServer
) -> None:
    wrong = redis_with_password.url_with("not-the-password")
    coordination = RedisCoordination(wrong)
    assert "not-the-password" not in repr(coordination)
    with pytest.raises(CoordinationError) as caught:
        async with make_client(emulator, coordination=coordination):
            pass
    assert_one_clean_line(str(caught.value), password="not-the-password")
    assert "***" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    # The right password works.
    async with make_client(
        emulator, coordination=RedisCoordination(redis_with_password.url)
    ) as phota:
        await phota.profiles.list()


async def test_a_password_missing_from_the_url_is_a_clear_error(
    emulator: PhotaEmulator, redis_with_password: RedisServer
) -> None:
    url = f"redis://127.0.0.1:{redis_with_password.port}/0"
    with pytest.raises(CoordinationError, match=r"cannot use Redis at redis://127\.0\.0\.1"):
        async with make_client(emulator, coordination=RedisCoordination(url)):
            pass


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:6379", "localhost:6379", "", "redis://127.0.0.1:notaport/0",
     f"https://:{PASSWORD}@example.com/"],
)
def test_a_wrong_url_is_refused_before_connecting(url: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        RedisCoordination(url)
    assert caught.value.field == "url"
    assert_one_clean_line(str(caught.value))


def test_bad_options_are_refused_naming_the_field() -> None:
    for options, field in [({"if_unavailable": "ignore"}, "if_unavailable"),
                           ({"rate_limit": 0}, "rate_limit"), ({"prefix": ""}, "prefix")]:
        with pytest.raises(InvalidInputError) as caught:
            RedisCoordination("redis://127.0.0.1:6379/0", **options)  # type: ignore[arg-type]
        assert caught.value.field == field


# --- Mid-run ---------------------------------------------------------------------------------


async def test_redis_lost_mid_run_and_back(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    options = {"rate_limit": 1000.0, "retry_interval": 0.05}
    soon = PollConfig(time_scale=TIME_SCALE)  # polls soon after a job's usual duration
    async with PhotaEmulator(time_scale=TIME_SCALE, job_seconds=FAST_JOBS) as emu, process(
        emu, redis_server, poll=LATE_POLLS, coord_options=options
    ) as web, process(emu, redis_server, poll=soon, coord_options=options) as worker, process(
        emu, redis_server, poll=LATE_POLLS, coord_options=options
    ) as awaiter, receiver(web) as rec:
        before = [await worker.generate("before", client_request_id=f"req-{i}") for i in range(3)]
        redis_server.stop()

        # Requests go on under the local limiter; submits are not sent twice.
        with caplog.at_level(logging.WARNING, logger="phota_async"):
            after = [await worker.generate("after", client_request_id=f"req-{i}")
                     for i in range(3, 8)]
        coordination: Any = worker.coordination
        assert not coordination.healthy
        assert any("local limiter" in r.getMessage() for r in caplog.records)

        # A callback still gets 204 where it lands; the awaiting process falls back to polling.
        job = await worker.generate("by polling", callback_url=rec.url)
        assert len((await job.result(timeout=5.0)).download_urls) == 1
        await wait_until(lambda: rec.answers == [204])

        for handle in before + after:
            await handle.result(timeout=5.0)
        charges = [c.client_request_id for c in emu.ledger if c.kind == "image"]
        assert len(charges) == 9 and len(set(charges)) == 9  # each intent billed once
        assert {f"req-{i}" for i in range(8)} <= set(charges)

        # Redis comes back: the budget is consulted again and the fan-out resubscribes.
        redis_server.start()
        for client in (web, worker, awaiter):
            await wait_until(lambda c=client: c.coordination.subscribed, timeout=10.0)  # type: ignore[attr-defined]
        await worker.profiles.list()
        assert coordination.healthy
        job = await awaiter.generate("fanned out again", callback_url=rec.url)
        assert len((await job.result(timeout=30)).download_urls) == 1  # before its first poll
        assert job_gets(emu, job.id) == 1


def test_the_client_repr_never_shows_the_redis_password() -> None:
    coordination = RedisCoordination(f"redis://user:{PASSWORD}@127.0.0.1:6379/0")
    phota = AsyncPhota(api_key="k", base_url="http://127.0.0.1:1/v1/phota",
                       coordination=coordination)
    assert PASSWORD not in repr(coordination) and PASSWORD not in repr(phota)
    assert "user:***@" in repr(coordination)
