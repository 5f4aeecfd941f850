"""A broken or hostile status answer never strands a job, and a poll budget is never exceeded.

Each test runs in virtual time (looptime) against a small loopback server whose status answers
come from a script: a ``completed`` answer that cannot be read ends in another poll, then in a
clean :class:`PhotaError` carrying the server's text; server hints are bounded both ways.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

import phota_async
from phota_async import AsyncPhota, ImageResult, PhotaError, PollConfig, RequestEvent
from phota_async._jobs.scheduler import PollScheduler
from phota_async.emulator import Dialect
from tests.conftest import FAST_RETRY, virtual_client, virtual_emulator

pytestmark = pytest.mark.looptime

JOB_ID = "job_00000000000000000000c0de"
DONE = {"job_id": JOB_ID, "status": "completed", "download_urls": ["https://cdn.test/a.jpg"]}
RUNNING = {"job_id": JOB_ID, "status": "running"}

Script = Callable[[int, float], web.Response]  # (poll number from 1, job age) -> the answer


class Server:
    """Accepts any image submit as job ``JOB_ID``; answers its status polls from a script."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.polls: list[float] = []  # the job's age at each poll
        self._born = 0.0

    async def submit(self, _: web.Request) -> web.Response:
        self._born = asyncio.get_running_loop().time()
        return web.json_response({"job_id": JOB_ID, "poll_url": f"/jobs/{JOB_ID}"}, status=202)

    async def status(self, _: web.Request) -> web.Response:
        age = asyncio.get_running_loop().time() - self._born
        self.polls.append(age)
        return self.script(len(self.polls), age)


@asynccontextmanager
async def hostile(script: Script, **poll: Any) -> AsyncIterator[tuple[Server, AsyncPhota]]:
    server = Server(script)
    app = web.Application()
    app.router.add_post("/v1/phota/generate", server.submit)
    app.router.add_get("/v1/phota/jobs/{job_id}", server.status)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1/phota"
    try:
        async with AsyncPhota(
            api_key="k-hostile", base_url=url, retry=FAST_RETRY, seed=1,
            poll=PollConfig(jitter=0.0, **poll),
        ) as phota:
            yield server, phota
    finally:
        await runner.cleanup()


def text(body: str) -> web.Response:
    return web.Response(text=body, content_type="application/json")


def after(seconds: float, running: web.Response | Callable[[], web.Response]) -> Script:
    """Running (as given) until the job is ``seconds`` old, then a good ``completed``."""

    def script(_: int, age: float) -> web.Response:
        if age >= seconds:
            return web.json_response(DONE)
        return running() if callable(running) else running

    return script


# --- A completed answer that cannot be read -------------------------------------------------------

UNREADABLE = {
    "bad base64": '{"job_id": "%s", "status": "completed", "images": ["%%%% not base64 %%%%"]}',
    "100k-deep JSON": "[" * 100_000 + "]" * 100_000,
    "not JSON": "<html>%s: 502 Bad Gateway</html>",
    "null": "null",
}


@pytest.mark.parametrize("body", UNREADABLE.values(), ids=UNREADABLE.keys())
async def test_an_unreadable_completed_answer_fails_the_job_with_the_servers_text(
    body: str,
) -> None:
    answer = body % JOB_ID if "%s" in body else body
    async with hostile(after(5.0, web.json_response(RUNNING))) as (server, phota):
        server.script = lambda n, age: text(answer) if age >= 5.0 else web.json_response(RUNNING)
        job = await phota.generate("x")
        with pytest.raises(PhotaError) as caught:
            await asyncio.wait_for(job.result(), 600)
    message = str(caught.value)
    assert "could not be read 3 times in a row" in message
    assert f"the server answered: {answer[:40]}" in message
    assert job.done() and job.state.value == "failed"
    assert sum(age >= 5.0 for age in server.polls) == 3  # three tries, then a clean end


async def test_a_count_of_1e999_is_left_out_and_the_job_still_resolves() -> None:
    answer = (f'{{"job_id": "{JOB_ID}", "status": "completed", "download_urls": ["https://c/a.jpg"],'
              ' "known_subjects": {"counts": {"prof_1": 1e999, "prof_2": 2}}}')
    async with hostile(after(5.0, web.json_response(RUNNING))) as (server, phota):
        server.script = lambda n, age: text(answer) if age >= 5.0 else web.json_response(RUNNING)
        result = await asyncio.wait_for(await phota.generate("x"), 600)
    assert dict(result.known_subjects.counts) == {"prof_2": 2}


async def test_one_unreadable_answer_is_only_a_reason_to_poll_again() -> None:
    bad = web.json_response({**DONE, "images": ["a"]})  # one base64 character: not an image

    def script(n: int, age: float) -> web.Response:
        if age < 5.0:
            return web.json_response(RUNNING)
        return bad if sum(a >= 5.0 for a in server.polls) == 1 else web.json_response(DONE)

    async with hostile(script) as (server, phota):
        result = await asyncio.wait_for(await phota.generate("x"), 600)
    assert isinstance(result, ImageResult) and result.download_urls == DONE["download_urls"]


# --- Hints ----------------------------------------------------------------------------------------

HINTS = {
    "poll_after_ms 1e12": lambda: web.json_response({**RUNNING, "poll_after_ms": 1e12}),
    "poll_after_ms Infinity": lambda: text(
        f'{{"job_id": "{JOB_ID}", "status": "running", "poll_after_ms": Infinity}}'
    ),
    "Retry-After 99999999": lambda: web.json_response(
        RUNNING, headers={"Retry-After": "99999999"}
    ),
    "retry_after 1e308": lambda: web.json_response({**RUNNING, "retry_after": 1e308}),
}


@pytest.mark.parametrize("running", HINTS.values(), ids=HINTS.keys())
async def test_a_huge_hint_is_capped_and_never_strands_the_job(running: Any) -> None:
    async with hostile(after(30.0, running)) as (server, phota):
        result = await asyncio.wait_for(await phota.generate("x"), 3600)
    assert isinstance(result, ImageResult)
    gaps = [b - a for a, b in zip(server.polls, server.polls[1:], strict=False)]
    assert max(gaps) == pytest.approx(60.0, abs=0.01)  # the cap (PollConfig.max_hint)
    assert server.polls[-1] <= 30.0 + 60.0 + 0.01


ZERO_HINTS = {
    "poll_after_ms 0": lambda: web.json_response({**RUNNING, "poll_after_ms": 0}),
    "poll_after_ms -5": lambda: web.json_response({**RUNNING, "poll_after_ms": -5}),
    "poll_after_ms NaN": lambda: text(
        f'{{"job_id": "{JOB_ID}", "status": "running", "poll_after_ms": NaN}}'
    ),
    "Retry-After 0": lambda: web.json_response(RUNNING, headers={"Retry-After": "0"}),
}


@pytest.mark.parametrize("running", ZERO_HINTS.values(), ids=ZERO_HINTS.keys())
async def test_a_zero_hint_does_not_make_the_client_hammer_the_api(running: Any) -> None:
    async with hostile(after(10.0, running)) as (server, phota):
        await asyncio.wait_for(await phota.generate("x"), 600)
    gaps = [b - a for a, b in zip(server.polls, server.polls[1:], strict=False)]
    assert min(gaps) >= 0.5 - 1e-6  # PollConfig.min_interval
    assert len(server.polls) <= 10.0 / 0.5 + 2


# --- The poll budget ------------------------------------------------------------------------------


class StandIn:
    """A job the scheduler sees only through its protocol, with a fixed chance of being done."""

    def __init__(self, name: str, likelihood: float, polled: list[str]) -> None:
        self.name, self.likelihood, self._polled = name, likelihood, polled

    def wants_polling(self) -> bool:
        return True

    async def poll_once(self) -> float | None:
        self._polled.append(self.name)
        return None

    def done_likelihood(self) -> float:
        return self.likelihood

    def fail(self, error: BaseException) -> None:
        raise AssertionError(error)

    def dropped(self) -> None:
        pass

    def interrupt(self) -> None:
        pass


async def test_under_a_budget_the_jobs_most_likely_done_are_polled_first() -> None:
    """The scheduler alone (a private unit), with stand-in jobs whose chances are known: the
    order of its choices is the whole point, and no real job could make it that plain."""
    loop = asyncio.get_running_loop()
    polled: list[str] = []
    started: list[float] = []
    scheduler = PollScheduler(workers=2, max_per_second=2.0)
    jobs = [StandIn(f"p{n}", n / 10, polled) for n in (3, 9, 1, 7, 5)]
    for job in jobs:
        scheduler.schedule(job, 1.0)  # all due at once
    while len(polled) < len(jobs):
        count = len(polled)
        await asyncio.sleep(0.01)
        if len(polled) > count:
            started.append(loop.time())
    await scheduler.aclose()
    assert polled == ["p9", "p7", "p5", "p3", "p1"]
    assert all(b - a >= 0.5 - 0.011 for a, b in itertools.pairwise(started))


async def polls_of_a_batch(budget: float | None) -> tuple[list[float], float]:
    """300 jobs submitted together (median 50 s, 30%): each poll's start, and polls per job."""
    starts: list[float] = []

    def on_event(event: RequestEvent) -> None:
        if event.kind == "start" and event.label.startswith("GET /jobs/"):
            starts.append(asyncio.get_running_loop().time())

    rng = random.Random(4)
    seconds = {"generate": lambda _request: rng.lognormvariate(math.log(50), 0.3)}
    async with virtual_emulator(
        job_seconds=seconds, dialect=Dialect(poll_hints=False)
    ) as emu, virtual_client(
        emu, on_event=on_event, poll=PollConfig(max_polls_per_second=budget)
    ) as phota:
        jobs = [await phota.generate(f"g{i}") for i in range(300)]
        results = await phota_async.gather(jobs)
    assert all(isinstance(result, ImageResult) for result in results)
    return starts, len(starts) / len(jobs)


async def test_a_budget_of_polls_per_second_is_never_exceeded() -> None:
    starts, budgeted = await polls_of_a_batch(10)
    # No closed one-second window holds more than 10 poll starts.
    assert all(later - start > 1.0 for start, later in zip(starts, starts[10:], strict=False))
    # Spent where jobs are likely done: fewer polls per job than the same batch unbounded.
    _, unbounded = await polls_of_a_batch(None)
    assert budgeted < 0.7 * unbounded
