"""The client's one poll scheduler against the emulator: a constant number of tasks whatever the
number of pending jobs, few polls per job, jobs leaving the heap, and poll errors."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import phota_async
from phota_async import (
    AsyncPhota,
    AuthenticationError,
    ClientClosedError,
    ImageResult,
    Job,
    JobTimeoutError,
    NotFoundError,
)
from phota_async import _constants as C
from phota_async._jobs.scheduler import PollScheduler
from phota_async.emulator import Dialect, PhotaEmulator
from tests.conftest import TIME_SCALE, make_client, photo, virtual_client, virtual_emulator


@contextlib.contextmanager
def emulator_thread(time_scale: float = TIME_SCALE, **options: Any) -> Iterator[PhotaEmulator]:
    """An emulator on its own event loop in another thread, so that the test's loop holds only
    the SDK's tasks (the emulator runs one task per job) and the SDK's timing is its own."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="emulator", daemon=True)
    thread.start()

    async def start() -> PhotaEmulator:
        return await PhotaEmulator(time_scale=time_scale, **options).start()

    emu = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        yield emu
    finally:
        asyncio.run_coroutine_threadsafe(emu.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture
def threaded_emulator() -> Iterator[PhotaEmulator]:
    with emulator_thread() as emu:
        yield emu


def gets(emu: PhotaEmulator, job_id: object = "*") -> int:
    return len(emu.api_requests(f"/jobs/{job_id}", "GET"))


class TaskSampler:
    """Samples the loop's task count and the scheduler's figures while jobs are awaited."""

    def __init__(self, phota: AsyncPhota) -> None:
        self._phota = phota
        self.tasks: list[int] = []
        self.scheduler_tasks: list[int] = []
        self.pending: list[int] = []

    def sample(self) -> None:
        self.tasks.append(len(asyncio.all_tasks()))
        self.scheduler_tasks.append(self._phota.scheduler.task_count)
        self.pending.append(self._phota.scheduler.pending)


async def submit_many(phota: AsyncPhota, count: int) -> list[Job]:
    return list(await asyncio.gather(*(phota.generate(f"portrait {i}") for i in range(count))))


@pytest.mark.parametrize("count", [300, 1000])
async def test_as_completed_from_one_task_keeps_the_task_count_constant(
    threaded_emulator: PhotaEmulator, count: int
) -> None:
    async with make_client(threaded_emulator, max_concurrency=8) as phota:
        jobs = await submit_many(phota, count)
        before = len(asyncio.all_tasks())
        sampler = TaskSampler(phota)
        finished = 0
        async for job in phota_async.as_completed(jobs):
            finished += 1
            assert job.done()
            sampler.sample()
        assert finished == count and all(job.done() for job in jobs)
        assert max(sampler.pending) >= count * 0.9  # they were waited on at once
        assert set(sampler.scheduler_tasks) == {8}  # the workers (the timer is a callback)
        assert max(sampler.tasks) <= before + 1 + 8  # nothing per job
        assert phota.scheduler.pending == 0


async def test_awaiting_each_job_from_one_task_keeps_the_task_count_constant(
    threaded_emulator: PhotaEmulator,
) -> None:
    async with make_client(threaded_emulator, max_concurrency=4) as phota:
        jobs = await submit_many(phota, 300)
        before = len(asyncio.all_tasks())
        sampler = TaskSampler(phota)
        stop = asyncio.Event()

        async def sample() -> None:  # one more task, for the measurement
            while not stop.is_set():
                sampler.sample()
                await asyncio.sleep(0.001)

        sampling = asyncio.create_task(sample())
        results = await phota_async.gather(jobs)  # one task waits on all of them
        for job in jobs:
            assert (await job) is results[jobs.index(job)]
        stop.set()
        await sampling
        assert len(results) == 300 and max(sampler.pending) >= 270
        assert set(sampler.scheduler_tasks) == {4}
        assert max(sampler.tasks) <= before + 1 + 4 + 1


async def test_gather_of_awaits_shares_the_scheduler(threaded_emulator: PhotaEmulator) -> None:
    # Even 300 waiting tasks (the user's, not ours) add no task of the SDK's.
    async with make_client(threaded_emulator) as phota:
        jobs = await submit_many(phota, 300)
        results = await asyncio.gather(*jobs)
        assert len(results) == 300 and phota.scheduler.task_count == 16
        assert phota.scheduler.pending == 0
        assert 300 <= gets(threaded_emulator) <= 3 * 300


# --- Polls per job --------------------------------------------------------------------------------


async def polls_per_job(emu: PhotaEmulator, phota: AsyncPhota, per_endpoint: int) -> float:
    before = gets(emu)
    jobs = [await phota.generate(f"g{i}") for i in range(per_endpoint)]
    jobs += [await phota.edit(f"e{i}", [photo(i)]) for i in range(per_endpoint)]
    async for _ in phota_async.as_completed(jobs):
        pass
    return (gets(emu) - before) / len(jobs)


@pytest.mark.looptime
async def test_a_warm_client_polls_at_most_three_times_per_job() -> None:
    # Documented durations (generate 55 s, edit 48 s), no server hints: the cadence alone.
    async with virtual_emulator(dialect=Dialect(poll_hints=False)) as emu, virtual_client(
        emu
    ) as phota:
        for _ in range(2):  # the client learns the endpoints' durations
            await polls_per_job(emu, phota, 5)
        assert await polls_per_job(emu, phota, 10) <= 3.0


def count_plans(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """From now on, one entry per poll plan a job makes (``monkeypatch.undo()`` to stop)."""
    planned: list[int] = []
    original = Job._planned_delay

    def counted(job: Job) -> float:
        planned.append(1)
        return original(job)

    monkeypatch.setattr(Job, "_planned_delay", counted)
    return planned


@pytest.mark.looptime
async def test_a_new_estimate_re_plans_thousands_of_jobs_a_slice_per_loop_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Re-planning ten thousand waiting jobs at once held the loop for 0.1..0.5 s: a new
    estimate now moves ``REPLAN_SLICE`` of them per loop pass, until every one is re-planned."""
    count = 3 * C.REPLAN_SLICE + 10
    async with virtual_emulator() as emu, virtual_client(emu, max_concurrency=64) as phota:
        jobs = [await phota.generate(f"many {i}") for i in range(count)]
        waiting = [asyncio.ensure_future(job.result()) for job in jobs]
        await asyncio.sleep(0)  # every job has a waiter and a planned poll
        planned = count_plans(monkeypatch)
        phota._ctx.replan("generate")
        passes = [len(planned)]
        while sum(passes) < count:
            await asyncio.sleep(0)
            passes.append(len(planned) - sum(passes))
        assert passes[0] == C.REPLAN_SLICE and max(passes) == C.REPLAN_SLICE
        assert sum(passes) == count and len(passes) == 4
        monkeypatch.undo()
        for _ in range(6):  # each re-plan leaves a stale heap entry per job: they are dropped
            phota._ctx.replan("generate")
            for _ in range(4):
                await asyncio.sleep(0)
        assert len(phota.scheduler._heap) <= 2 * count + 1024
        results = await asyncio.gather(*waiting)  # re-planned, every job still resolves
        assert all(isinstance(result, ImageResult) for result in results)


@pytest.mark.looptime
async def test_estimates_that_keep_moving_add_one_re_plan_round_not_a_restart_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    count = 2 * C.REPLAN_SLICE
    async with virtual_emulator() as emu, virtual_client(emu, max_concurrency=64) as phota:
        jobs = [await phota.generate(f"moving {i}") for i in range(count)]
        waiting = [asyncio.ensure_future(job.result()) for job in jobs]
        await asyncio.sleep(0)
        planned = count_plans(monkeypatch)
        for _ in range(5):  # five new estimates while the first round is under way
            phota._ctx.replan("generate")
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(planned) == 2 * count  # this round, then one more on the newest estimate
        monkeypatch.undo()
        await asyncio.gather(*waiting)


# --- Leaving the heap -----------------------------------------------------------------------------


@pytest.mark.looptime
async def test_a_job_nobody_waits_on_leaves_the_heap() -> None:
    async with virtual_emulator() as emulator, virtual_client(emulator) as phota:
        job = await phota.generate("forgotten")
        with pytest.raises(JobTimeoutError):
            await job.result(timeout=0.1)
        assert phota.scheduler.pending == 1  # its first poll (0.75 s) is still due
        await asyncio.sleep(100)  # past that time and the job's end
        assert phota.scheduler.pending == 0
        assert gets(emulator, job.id) == 0  # dropped when due, without a request
        await asyncio.sleep(100)
        assert gets(emulator, job.id) == 0 and not job.done()


@pytest.mark.looptime
async def test_jobs_left_by_a_broken_off_as_completed_leave_the_heap() -> None:
    async with virtual_emulator() as emulator, virtual_client(emulator) as phota:
        jobs = [await phota.enhance(photo(1), prompt="fast")]  # 30 s; the others 55 s
        jobs += [await phota.generate(f"slow {i}") for i in range(4)]
        async for first in phota_async.as_completed(jobs):  # noqa: B007
            break
        assert first is jobs[0]
        await asyncio.sleep(100)  # long past the other jobs' end on the server
        assert phota.scheduler.pending == 0
        assert not any(job.done() for job in jobs[1:])  # nobody waited: nobody looked
        assert sum(gets(emulator, job.id) for job in jobs[1:]) <= 4 * 2


# --- Closing the client ---------------------------------------------------------------------------


@pytest.mark.looptime
async def test_closing_the_client_stops_the_scheduler() -> None:
    async with virtual_emulator() as emulator:
        phota = virtual_client(emulator)
        job = await phota.generate("x")
        with pytest.raises(JobTimeoutError):
            await job.result(timeout=0.1)
        assert phota.scheduler.task_count == 16
        await phota.aclose()
        assert phota.scheduler.task_count == 0 and phota.scheduler.pending == 0


@pytest.mark.looptime
async def test_closing_the_client_wakes_every_waiter_with_how_to_reattach() -> None:
    async with virtual_emulator() as emulator:
        phota = virtual_client(emulator)
        jobs = [await phota.generate(f"awaited {i}") for i in range(500)]
        waiters = [asyncio.create_task(job.result()) for job in jobs]
        watcher = asyncio.create_task(collect(jobs[0]))
        batch = asyncio.create_task(finished(jobs[250:]))
        await asyncio.sleep(10)  # all waiting (their work takes 55 s)
        assert not any(w.done() for w in [*waiters, watcher, batch])
        await phota.aclose()
        await asyncio.wait([*waiters, watcher, batch], timeout=1)
        for job, waiter in zip(jobs, waiters, strict=True):
            error = waiter.exception()
            assert isinstance(error, ClientClosedError) and error.job_id == job.id
            assert "from_token" in str(error) and str(job.id) in str(error)
        assert isinstance(watcher.exception(), ClientClosedError)  # job.updates()
        assert isinstance(batch.exception(), ClientClosedError)  # as_completed
        assert not any(job.done() for job in jobs)  # the jobs go on at the server
        async with virtual_client(emulator) as again:
            revived = [again.jobs.from_token(job.to_token()) for job in jobs[:3]]
            assert all(isinstance(r, ImageResult) for r in await phota_async.gather(revived))


async def collect(job: Job) -> list[str]:
    return [snapshot.status async for snapshot in job.updates()]


async def finished(jobs: list[Job]) -> list[Job]:
    return [job async for job in phota_async.as_completed(jobs)]


# --- Poll errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 503},
        {"status": [500, 502, 504]},
        {"status": 429},
        {"drop": "before"},
        {"drop": "after"},
    ],
    ids=["503", "5xx", "429", "drop-before", "drop-after"],
)
async def test_poll_errors_back_off_and_go_on(
    phota: AsyncPhota, emulator: PhotaEmulator, fault: dict[str, Any]
) -> None:
    job = await phota.generate("through the storm")
    handle = emulator.inject("/jobs/*", method="GET", times=3, **fault)
    result = await job.result(timeout=2.0)
    assert handle.fired == 3 and len(result.download_urls) == 1
    assert gets(emulator, job.id) >= 4  # three failed polls, then the ones that worked


@pytest.mark.looptime
async def test_poll_timeouts_back_off_and_go_on() -> None:
    async with virtual_emulator() as emulator, virtual_client(emulator, timeout=5) as phota:
        job = await phota.generate("slow answers")
        handle = emulator.inject("/jobs/*", method="GET", latency=10, times=2)
        result = await job.result(timeout=120)
        assert handle.fired == 2 and len(result.download_urls) == 1
        assert gets(emulator, job.id) >= 3


async def test_a_job_that_keeps_failing_to_poll_stays_pending(
    phota: AsyncPhota, emulator: PhotaEmulator
) -> None:
    job = await phota.generate("unreachable status")
    emulator.inject("/jobs/*", method="GET", status=503)
    with pytest.raises(JobTimeoutError):
        await job.result(timeout=0.3)
    assert not job.done() and gets(emulator, job.id) >= 2
    emulator.clear_faults()
    assert len((await job.result(timeout=2.0)).download_urls) == 1


async def test_a_malformed_poll_answer_does_not_strand_the_job(
    phota: AsyncPhota, emulator: PhotaEmulator
) -> None:
    job = await phota.generate("a proxy answered")
    emulator.inject("/jobs/*", method="GET", status=200, times=1)  # an error body, status 200
    result = await job.result(timeout=1.0)
    assert len(result.download_urls) == 1


async def test_a_404_fails_the_job_with_not_found(
    phota: AsyncPhota, emulator: PhotaEmulator
) -> None:
    job = phota.jobs.attach("job_made_up_0000")
    with pytest.raises(NotFoundError) as caught:
        await job.result(timeout=2.0)
    assert caught.value.status == 404
    assert job.done() and gets(emulator, "job_made_up_0000") == 1  # no retry of a 404
    assert phota.scheduler.pending == 0


async def test_a_rejected_key_fails_the_job(emulator: PhotaEmulator) -> None:
    async with make_client(emulator) as good:
        job_id = str((await good.generate("mine")).id)
    async with make_client(emulator, api_key="wrong-key") as bad:
        with pytest.raises(AuthenticationError):
            await bad.jobs.attach(job_id).result(timeout=2.0)
    assert gets(emulator, job_id) == 1


@pytest.fixture
async def many_waiters_client(emulator: PhotaEmulator) -> AsyncIterator[AsyncPhota]:
    async with make_client(emulator, max_concurrency=2) as client:
        yield client


async def test_polls_go_through_the_limiter(
    many_waiters_client: AsyncPhota, emulator: PhotaEmulator
) -> None:
    # 40 jobs due at once with two workers and a ceiling of two requests: never more at a time.
    phota = many_waiters_client
    peak = 0
    jobs = [await phota.generate(f"queue {i}") for i in range(40)]
    emulator.inject("/jobs/*", method="GET", latency=0.002)

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, phota.limiter.in_flight)
            await asyncio.sleep(0.0005)

    watcher = asyncio.create_task(watch())
    try:
        results = await phota_async.gather(jobs)
    finally:
        watcher.cancel()
    assert len(results) == 40 and 1 <= peak <= 2


class Probe:
    """A pollable that records when it is polled, and is done at its first poll."""

    def __init__(self) -> None:
        self.polled_at: list[float] = []

    def wants_polling(self) -> bool:
        return not self.polled_at

    async def poll_once(self) -> float | None:
        self.polled_at.append(asyncio.get_running_loop().time())
        return None

    def done_likelihood(self) -> float:
        return 0.5

    def fail(self, error: BaseException) -> None:
        raise AssertionError(f"the probe failed: {error!r}")

    def dropped(self) -> None:
        pass

    def interrupt(self) -> None:
        pass


@pytest.mark.looptime
async def test_a_job_made_due_by_its_callback_keeps_its_turn_when_re_planned() -> None:
    """The scheduler itself (private): a callback makes a job due now, and another job's
    result moves the estimate (every waiting job is re-planned) before the timer hands the job
    out. The re-plan must not undo the callback: the webhooks benchmark saw 2.8 s of lag (the
    job waited for its safety-net poll) when it did."""
    scheduler = PollScheduler(workers=1)
    probe = Probe()
    start = asyncio.get_running_loop().time()
    scheduler.schedule(probe, 100.0)  # its safety net
    scheduler.poll_now(probe)  # its callback came
    scheduler.reschedule(probe, 100.0)  # a re-plan, in the same pass of the loop
    await asyncio.sleep(1.0)
    await scheduler.aclose()
    assert probe.polled_at == [start]
