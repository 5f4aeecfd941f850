"""The poll cadence in virtual time: how many polls each job costs and how late after the server
finished it ``await job`` returns, exactly, for fast, typical and slow servers, cold and warm,
with and without hints and callbacks; saved state; the kinds of work it tells apart.

Every test runs on looptime's fast-forwarding loop clock (hours of job time in milliseconds) with
an emulator in the same loop at time scale 1: a job's lag is measured in the emulator's seconds,
from its ``due_at`` to the moment ``await job`` returned. Nothing here reads the wall clock.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import statistics
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

import phota_async
from phota_async import AsyncPhota, InvalidInputError, Job, PollConfig
from phota_async._constants import TIME_SCALE_ENV
from phota_async.emulator import CallbackPolicy, Dialect, PhotaEmulator
from phota_async.emulator import _command as emulator_command
from tests.conftest import job_gets, photo, serve, virtual_client, virtual_emulator
from tests.resources.test_webhooks import receiver

pytestmark = pytest.mark.looptime

NO_HINTS = Dialect(poll_hints=False)
STEADY = PollConfig(jitter=0.0)
# Durations a hair over the round figures: no job ends on the very instant of a poll, where the
# emulator's finishing (an image drawn in a worker thread) and the poll would race.
EXTRA = 1.01


def scout_ages() -> Iterator[float]:
    """The documented cold cadence of a job awaited alone: 0.75 s, then 1.5 x (at least +0.5)."""
    age = 0.75
    while True:
        yield age
        age = max(1.5 * age, age + 0.5)


def lognormal(median: float, sigma: float, seed: int) -> Callable[[object], float]:
    """Job durations drawn per request, in submit order (repeatable)."""
    rng = random.Random(seed)
    return lambda _request: rng.lognormvariate(math.log(median), sigma)


async def resolve(emu: PhotaEmulator, job: Job) -> float:
    """Wait for ``job``; how late after the server finished it (emulated seconds)."""
    await job
    return emu.now() - emu.jobs[str(job.id)].due_at


async def lags(emu: PhotaEmulator, jobs: list[Job]) -> list[float]:
    """Each job's lag as a share of its duration, as the jobs finish (one waiter for all)."""
    shares = []
    async for job in phota_async.as_completed(jobs):
        record = emu.jobs[str(job.id)]
        shares.append((emu.now() - record.due_at) / record.duration)
    return shares


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


@asynccontextmanager
async def world(**emulator: Any) -> AsyncIterator[tuple[PhotaEmulator, AsyncPhota]]:
    """An emulator in virtual time and a client with a steady (jitter-free) cadence."""
    async with virtual_emulator(**emulator) as emu, virtual_client(emu, poll=STEADY) as phota:
        yield emu, phota


def polls_per_job(emu: PhotaEmulator, jobs: list[Job]) -> float:
    return sum(job_gets(emu, job.id) for job in jobs) / len(jobs)


# --- One job on a fresh client: the scout cadence ---------------------------------------------


@pytest.mark.parametrize("seconds", [0.5, 2.0, 8.0, 25.0, 55.0, 120.0])
async def test_a_fresh_client_resolves_one_job_soon_whatever_the_server_takes(
    seconds: float,
) -> None:
    # Nothing is known: the job scouts. The bound is max(1.5 s, 50% of the duration).
    duration = seconds * EXTRA
    expected_polls, expected_age = next(
        (n, age) for n, age in enumerate(scout_ages(), 1) if age >= duration
    )
    async with world(image_job_seconds=duration, dialect=NO_HINTS) as (emu, phota):
        job = await phota.generate("a portrait")
        lag = await resolve(emu, job)
    assert job_gets(emu, job.id) == expected_polls
    assert lag == pytest.approx(expected_age - duration, abs=1e-3)
    assert lag <= max(1.5, 0.5 * duration)


# --- The same client, warm ----------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [0.5, 2.0, 8.0, 25.0, 55.0, 120.0])
async def test_after_ten_jobs_the_client_resolves_jobs_of_that_duration_within_15_percent(
    seconds: float,
) -> None:
    async with world(image_job_seconds=seconds * EXTRA, dialect=NO_HINTS) as (emu, phota):
        for _ in range(10):
            await (await phota.generate("warming up"))
        jobs, late = [], []
        for _ in range(10):
            jobs.append(await phota.generate("warm"))
            late.append(await resolve(emu, jobs[-1]))
        learned = phota.cadence_state()["durations"]["generate/-/-"]
    assert p90(late) <= max(1.0, 0.15 * seconds)
    assert all(job_gets(emu, job.id) <= 4 for job in jobs)
    if seconds >= 2.0:
        assert learned["median"] == pytest.approx(seconds, rel=0.15)
    else:  # polls are 0.5 s apart at least: that is as close as a duration can be known
        assert learned["median"] <= seconds + 0.5


async def test_a_batch_on_a_fresh_client_resolves_soon_in_few_polls() -> None:
    # 200 jobs submitted together, durations like the public benchmark's (median 50 s, 30%).
    async with virtual_emulator(
        job_seconds={"generate": lognormal(50, 0.3, seed=1)}, dialect=NO_HINTS
    ) as emu, virtual_client(emu) as phota:
        jobs = [await phota.generate(f"g{i}") for i in range(200)]
        shares = await lags(emu, jobs)
    assert polls_per_job(emu, jobs) <= 3.5
    assert statistics.median(shares) <= 0.10 and p90(shares) <= 0.25


async def test_a_server_ten_times_faster_than_the_docs_is_followed_after_five_jobs() -> None:
    async with virtual_emulator(
        job_seconds={"generate": lognormal(5, 0.05, seed=2)}, dialect=NO_HINTS
    ) as emu, virtual_client(emu) as phota:
        for _ in range(5):
            await (await phota.generate("first"))
        late = [await resolve(emu, await phota.generate("then")) for _ in range(20)]
    assert p90(late) <= 1.0


async def test_a_cold_batch_is_re_planned_when_its_scout_finishes() -> None:
    # The docs say 55 s; this server takes 5. The batch does not wait for the docs' 38.5 s:
    # the scout's result re-plans every waiting job.
    async with world(image_job_seconds=5.0, dialect=NO_HINTS) as (emu, phota):
        jobs = [await phota.generate(f"g{i}") for i in range(20)]
        shares = await lags(emu, jobs)
    assert max(shares) * 5.0 <= 1.5  # seconds, instead of 33.5 s for a first poll at 38.5
    assert polls_per_job(emu, jobs) <= 2.5


async def test_jobs_found_done_at_their_first_poll_pull_later_first_polls_earlier() -> None:
    # The server gets five times faster; each job is then done at its first poll, which bounds
    # its duration from above only. Those bounds alone must bring the first poll down.
    speed = {"seconds": 50.0}
    async with virtual_emulator(
        job_seconds={"generate": lambda _request: speed["seconds"]}, dialect=NO_HINTS
    ) as emu, virtual_client(emu, poll=STEADY) as phota:
        for _ in range(10):
            await (await phota.generate("slow"))
        speed["seconds"] = 10.0
        late = [await resolve(emu, await phota.generate("fast")) for _ in range(12)]
    assert late[0] > 20.0  # the first one waited for the plan of 50 s jobs
    assert late[-1] <= 1.5  # the plan followed the upper bounds down


async def test_jobs_awaited_late_do_not_teach_a_late_first_poll() -> None:
    # Jobs first awaited long after they ended say only "done by then": later jobs must still
    # be polled when they end, not at the age the late ones were looked at.
    async with world(image_job_seconds=55.0, dialect=NO_HINTS) as (emu, phota):
        for _ in range(5):
            await (await phota.generate("learn"))
        early = [await phota.generate(f"e{i}") for i in range(6)]
        await asyncio.sleep(300)  # other work: 300 s; the jobs took 55
        await phota_async.gather(early)
        shares = await lags(emu, [await phota.generate(f"l{i}") for i in range(6)])
    assert max(shares) <= 0.15


# --- Kinds of work --------------------------------------------------------------------------------


async def test_base_models_are_learned_apart() -> None:
    # On one endpoint, a quick model and a slow one: each is polled at its own pace.
    def seconds(request: Any) -> float:
        return 20.0 if request.base_model == "nb2" else 200.0

    async with world(job_seconds={"generate": seconds}, dialect=NO_HINTS) as (emu, phota):

        async def one(model: str) -> tuple[Job, float]:
            job = await phota.generate("x", base_model=model, resolution="4K")
            return job, await resolve(emu, job)

        for _ in range(6):
            await one("nb2")
            await one("gpt-image-2")
        quick = [await one("nb2") for _ in range(5)]
        slow = [await one("gpt-image-2") for _ in range(5)]
        state = phota.cadence_state()["durations"]
    assert state["generate/nb2/4K"]["median"] == pytest.approx(20, rel=0.15)
    assert state["generate/gpt-image-2/4K"]["median"] == pytest.approx(200, rel=0.15)
    for jobs, duration in ((quick, 20.0), (slow, 200.0)):
        assert all(job_gets(emu, job.id) <= 4 for job, _ in jobs)
        assert max(lag for _, lag in jobs) <= 0.15 * duration


async def test_what_was_learned_is_saved_and_a_new_client_starts_warm() -> None:
    async with virtual_emulator(image_job_seconds=30.0, dialect=NO_HINTS) as emu:
        async with virtual_client(emu, poll=STEADY) as first:
            for _ in range(10):
                await (await first.generate("learn"))
            state = first.cadence_state()
        assert state["version"] == 1 and set(state["durations"]) == {"generate", "generate/-/-"}
        async with virtual_client(emu, poll=PollConfig(jitter=0.0, learned=state)) as second:
            job = await second.generate("warm from the first job")
            lag = await resolve(emu, job)
        async with virtual_client(emu, poll=STEADY) as cold:
            cold_job = await cold.generate("cold")
            cold_lag = await resolve(emu, cold_job)
    assert job_gets(emu, job.id) <= 3 and lag <= 0.15 * 30
    assert job_gets(emu, cold_job.id) >= 8 and cold_lag > lag  # the scout's cadence


@pytest.mark.parametrize(
    "learned",
    [{"version": 9, "durations": {}}, {"durations": {}}, "text",
     {"version": 1, "durations": {"generate": {"median": -1, "sigma": 0.3, "count": 1}}},
     {"version": 1, "durations": {"generate": {"median": 50}}}],
)
def test_a_bad_learned_document_is_refused(learned: Any) -> None:
    with pytest.raises(InvalidInputError, match=r"poll\.learned"):
        PollConfig(learned=learned)


# --- Hints and callbacks -----------------------------------------------------------------------


async def test_an_exact_poll_after_hint_resolves_in_two_polls() -> None:
    async with world(image_job_seconds=55.0) as (emu, phota):  # poll_after_ms: the time left
        job = await phota.generate("hinted")
        lag = await resolve(emu, job)
    assert job_gets(emu, job.id) <= 3 and lag <= 0.5


async def test_a_retry_after_header_hint_is_honoured() -> None:
    # Whole seconds: the first poll (the scout's, at 0.75 s) is told 55 s (ceil of 54.25).
    async with world(image_job_seconds=55.0, dialect=Dialect(poll_hint="header")) as (emu, phota):
        job = await phota.generate("a green door")
        lag = await resolve(emu, job)
    assert job_gets(emu, job.id) == 2 and lag == pytest.approx(0.75, abs=1e-3)


async def test_a_callback_resolves_the_job_at_once_with_one_poll() -> None:
    async with world(image_job_seconds=55.0, dialect=NO_HINTS) as (emu, phota), receiver(
        phota
    ) as rec:
        job = await phota.generate("called back", callback_url=rec.url)
        lag = await resolve(emu, job)
    assert job_gets(emu, job.id) == 1 and lag < 0.01


async def test_a_lost_callback_costs_a_later_first_poll_only() -> None:
    # A job with a callback waits twice the usual first poll for it; lost, the job is still
    # resolved by polling, a little later.
    policy = CallbackPolicy(drop=True)
    async with world(image_job_seconds=55.0, dialect=NO_HINTS, callbacks=policy) as (
        emu, phota
    ), receiver(phota) as rec:
        job = await phota.generate("called back", callback_url=rec.url)
        lag = await resolve(emu, job)
    first = 0.7 * 55.0 * 2.0  # cold: 70% of the docs' 55 s, times the callback grace
    assert job_gets(emu, job.id) == 1 and lag == pytest.approx(first - 55.0, abs=1e-3)


@asynccontextmanager
async def losing_receiver(phota: AsyncPhota, lost: set[str]) -> AsyncIterator[str]:
    """A loopback callback URL whose handler drops the callbacks of the jobs in ``lost`` (a
    handler that crashed, a proxy that ate them) and hands the others to ``phota.webhooks``."""

    async def route(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if json.loads(body)["job_id"] not in lost:
            await phota.webhooks.handle(body, request.headers)
        return web.Response(status=204)

    async with serve(web.post("/cb", route)) as origin:
        yield f"{origin}/cb"


async def test_a_fresh_client_waits_for_the_callbacks_of_a_batch_and_polls_only_lost_ones() -> None:
    # The webhooks benchmark in virtual time: 200 jobs with callbacks, half generate, half edit,
    # durations like the public benchmark's (30% spread), submitted at 5 a second on a fresh
    # client. A callback job is polled before its callback only as a safety net: the ones
    # called back cost one confirming GET each (the floor), and what the client learns from
    # them must not bring later jobs' safety nets before their callbacks (before this was
    # fixed: 2.8 GETs per job). Four callbacks (all edits) are lost: those jobs are still
    # resolved, by polling.
    seconds = {"generate": lognormal(55, 0.3, seed=3), "edit": lognormal(48, 0.3, seed=4)}
    lost: set[str] = set()
    async with world(job_seconds=seconds, dialect=NO_HINTS) as (emu, phota), losing_receiver(
        phota, lost
    ) as url:

        async def submit_and_wait(index: int) -> tuple[Job, float]:
            if index % 2:
                job = await phota.edit(f"e{index}", [photo(1)], callback_url=url)
            else:
                job = await phota.generate(f"g{index}", callback_url=url)
            if index % 50 == 25:
                lost.add(str(job.id))
            return job, await resolve(emu, job)

        tasks = []
        for index in range(200):
            tasks.append(asyncio.create_task(submit_and_wait(index)))
            await asyncio.sleep(0.2)
        done = await asyncio.gather(*tasks)
    called_back = [job for job, _ in done if str(job.id) not in lost]
    dropped = [(job, lag) for job, lag in done if str(job.id) in lost]
    assert len(called_back) == 196 and len(dropped) == 4
    assert polls_per_job(emu, called_back) <= 1.05
    for job, lag in dropped:  # by the safety net: once nearly every edit of 48 s has ended
        assert 1 <= job_gets(emu, job.id) <= 2 and job.done()
        assert emu.jobs[str(job.id)].duration + lag <= 2.5 * 48


# --- Matching an emulator's time scale ------------------------------------------------------------


async def lag_at_scale(monkeypatch: pytest.MonkeyPatch, env: str | None) -> float:
    """Emulated seconds between a 55 s job's end and ``await job`` on an emulator at 600x, for a
    client given no ``poll=`` (only ``$PHOTA_TIME_SCALE``, if set)."""
    if env is None:
        monkeypatch.delenv(TIME_SCALE_ENV, raising=False)
    else:
        monkeypatch.setenv(TIME_SCALE_ENV, env)
    async with PhotaEmulator(time_scale=600, dialect=NO_HINTS) as emu, AsyncPhota(
        api_key=emu.api_key, base_url=emu.url
    ) as phota:
        return await resolve(emu, await phota.generate("the README's job"))


async def test_phota_time_scale_makes_a_client_keep_pace_with_a_scaled_emulator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert await lag_at_scale(monkeypatch, "600") <= 0.5 * 55  # the scout's cadence, scaled
    assert await lag_at_scale(monkeypatch, None) > 100  # real seconds: 600 times too slow


def test_the_emulator_prints_the_client_setting_of_its_time_scale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TIME_SCALE_ENV, "120")
    assert emulator_command._parser().parse_args([]).time_scale == 120.0  # both read it
    text = emulator_command.client_setting("http://127.0.0.1:8787/v1/phota", "k", 120.0)
    assert f"{TIME_SCALE_ENV}=120\n" in text and "PollConfig(time_scale=120)" in text


async def test_phota_time_scale_is_ignored_against_a_remote_api(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TIME_SCALE_ENV, "600")
    with pytest.warns(UserWarning, match="ignored"):
        phota = AsyncPhota(api_key="k", base_url="https://api.photalabs.com/v1/phota")
    assert phota.poll.time_scale == 1.0
    await phota.aclose()
    monkeypatch.setenv(TIME_SCALE_ENV, "fast")
    with pytest.raises(InvalidInputError, match=TIME_SCALE_ENV):
        AsyncPhota(api_key="k", base_url="http://127.0.0.1:1/v1/phota")
