"""Jobs at scale: polls per job, resolution lag, webhooks, and 10,000 pending jobs.

    .venv/bin/python benchmarks/bench_jobs.py [--jobs 1000] [--pending 10000] [--scale 20]

A. ``--jobs`` image jobs (half generate at 55 s, half edit at 48 s: the documented typical times,
   with server poll hints off so the SDK's own cadence is measured) against the in-process
   emulator in scaled time. Figures: status requests per job, and the lag between the server
   finishing a job and the SDK resolving it, as a fraction of the job's duration. Baseline: raw
   aiohttp, one task per job polling every 5 s (the usual hand-written loop).
B. The same with a ``callback_url``: confirming GETs per job, and milliseconds from the callback's
   delivery to the job's resolution.
C. ``--pending`` jobs awaited at once, the emulator in another process: tasks, extra memory (RSS)
   and the worst event-loop stall (a 1 ms ticker) while their polls come due. Baseline: raw
   aiohttp with one sleeping task per job.

Figures are printed; nothing is asserted (speed targets are shown here, never in tests).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp import web

from phota_async import AsyncPhota, Job, PollConfig, as_completed
from phota_async.emulator import Dialect, PhotaEmulator, sample_photo

KEY = "bench-key"
DURATIONS = {"generate": 55.0, "edit": 48.0}


class PeakRSS:
    """Samples this process's RSS every 20 ms; ``extra`` is the peak over the start, in MB."""

    def __init__(self) -> None:
        self.start = rss_mb()
        self.peak = self.start
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, rss_mb())
            await asyncio.sleep(0.02)

    @property
    def extra(self) -> float:
        return self.peak - self.start

    def __enter__(self) -> PeakRSS:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def rss_mb() -> float:
    """Resident memory of this process, in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Ticker:
    """A 1 ms ticker: the worst lateness it sees is the longest the loop was blocked.

    ``worst_gc`` is the longest pause of CPython's cyclic GC in the same time, and
    ``worst_not_gc`` the worst lateness once the GC's own time is taken out of it: a full GC pass
    over every live object of the process stalls any asyncio program, whatever its code.
    """

    def __init__(self) -> None:
        self.worst = self.worst_gc = self.worst_not_gc = 0.0
        self._gc_total = 0.0
        self._gc_start = 0.0
        self._task: asyncio.Task[None] | None = None

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._gc_start = now
            return
        self._gc_total += now - self._gc_start
        self.worst_gc = max(self.worst_gc, now - self._gc_start)

    async def _run(self) -> None:
        while True:
            start, gc_before = time.perf_counter(), self._gc_total
            await asyncio.sleep(0.001)
            late = time.perf_counter() - start - 0.001
            self.worst = max(self.worst, late)
            self.worst_not_gc = max(self.worst_not_gc, late - (self._gc_total - gc_before))

    def __enter__(self) -> Ticker:
        gc.callbacks.append(self._on_gc)
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._on_gc)
        assert self._task is not None
        self._task.cancel()


async def submit_all(phota: AsyncPhota, count: int, **options: Any) -> list[Job]:
    image = sample_photo(1)

    async def one(index: int) -> Job:
        if index % 2:
            return await phota.edit(f"edit {index}", [image], **options)
        return await phota.generate(f"generate {index}", **options)

    return list(await asyncio.gather(*(one(i) for i in range(count))))


def lag_ratios(emu: PhotaEmulator, resolved: dict[str, float]) -> list[float]:
    """Per job: (emulated time of resolution - server due time) / duration."""
    return [
        max(0.0, (at - emu.jobs[job_id].due_at) / emu.jobs[job_id].duration)
        for job_id, at in resolved.items()
    ]


def describe(name: str, polls: float, lags: list[float]) -> str:
    lags = sorted(lags)
    p95 = lags[int(len(lags) * 0.95) - 1]
    return (f"{name:<28} polls/job {polls:5.2f}   lag/duration mean {statistics.mean(lags):6.1%}"
            f"  p95 {p95:6.1%}  max {lags[-1]:6.1%}")


# --- A: polls and lag -------------------------------------------------------------------------


async def sdk_polling(count: int, scale: float) -> tuple[float, list[float]]:
    async with PhotaEmulator(api_keys=(KEY,), time_scale=scale, job_seconds=DURATIONS,
                             dialect=Dialect(poll_hints=False), record_requests=False) as emu:
        async with AsyncPhota(api_key=KEY, base_url=emu.url, max_concurrency=32,
                              poll=PollConfig(time_scale=scale)) as phota:
            jobs = await submit_all(phota, count)
            resolved: dict[str, float] = {}
            async for job in as_completed(jobs):
                resolved[str(job.id)] = emu.now()
            polls = sum(job.polls for job in jobs) / count
        return polls, lag_ratios(emu, resolved)


async def baseline_polling(
    count: int, scale: float, every: float = 5.0
) -> tuple[float, list[float]]:
    async with PhotaEmulator(api_keys=(KEY,), time_scale=scale, job_seconds=DURATIONS,
                             dialect=Dialect(poll_hints=False), record_requests=False) as emu:
        headers = {"X-API-Key": KEY}
        polls = 0
        resolved: dict[str, float] = {}
        async with aiohttp.ClientSession(headers=headers) as session:
            limit = asyncio.Semaphore(32)

            async def one(index: int) -> None:
                nonlocal polls
                endpoint = "edit" if index % 2 else "generate"
                body: dict[str, Any] = {"prompt": f"{endpoint} {index}", "async": True,
                                        "response_mode": "urls", "output_format": "jpg"}
                if endpoint == "edit":
                    import base64

                    body["images"] = [base64.b64encode(sample_photo(1)).decode()]
                async with limit, session.post(f"{emu.url}/{endpoint}", json=body) as resp:
                    job_id = (await resp.json())["job_id"]
                while True:
                    await asyncio.sleep(every / scale)
                    polls += 1
                    async with session.get(f"{emu.url}/jobs/{job_id}") as resp:
                        status = (await resp.json())["status"]
                    if status in ("completed", "failed"):
                        resolved[job_id] = emu.now()
                        return

            await asyncio.gather(*(one(i) for i in range(count)))
        return polls / count, lag_ratios(emu, resolved)


# --- B: webhooks --------------------------------------------------------------------------------


@asynccontextmanager
async def callback_server(phota: AsyncPhota, delivered: dict[str, float]) -> AsyncIterator[str]:
    async def receive(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        job = await phota.webhooks.handle(body, request.headers)
        if job is not None:
            delivered.setdefault(str(job.id), time.perf_counter())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/cb", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/cb"
    finally:
        await runner.cleanup()


async def sdk_webhooks(count: int, scale: float) -> tuple[float, list[float]]:
    async with PhotaEmulator(api_keys=(KEY,), time_scale=scale, job_seconds=DURATIONS,
                             dialect=Dialect(poll_hints=False), record_requests=False) as emu:
        async with AsyncPhota(api_key=KEY, base_url=emu.url, max_concurrency=32,
                              poll=PollConfig(time_scale=scale)) as phota:
            delivered: dict[str, float] = {}
            async with callback_server(phota, delivered) as url:
                jobs = await submit_all(phota, count, callback_url=url)
                resolved: dict[str, float] = {}
                async for job in as_completed(jobs):
                    resolved[str(job.id)] = time.perf_counter()
            confirming = sum(job.polls for job in jobs) / count
            after_callback = [
                (resolved[j] - delivered[j]) * 1000 for j in resolved if j in delivered
            ]
        return confirming, after_callback


# --- C: 10,000 pending --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def emulator_process(scale: float) -> AsyncIterator[str]:
    port = free_port()
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is measured
        [sys.executable, "-m", "phota_async.emulator", "--port", str(port), "--time-scale",
         str(scale), "--api-key", KEY],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1/phota"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(200):
                try:
                    async with session.get(f"{url}/profiles/ids", headers={"X-API-Key": KEY}):
                        break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait()


async def sdk_pending(count: int, scale: float) -> dict[str, float]:
    async with emulator_process(scale) as url, AsyncPhota(
        api_key=KEY, base_url=url, max_concurrency=64, poll=PollConfig(time_scale=scale)
    ) as phota:
        await phota.profiles.list()  # warm the session before measuring
        tasks_before = len(asyncio.all_tasks())
        before = rss_mb()
        jobs: list[Job] = []

        async def submitter(indexes: range) -> None:
            for index in indexes:
                jobs.append(await phota.generate(f"generate {index}"))

        await asyncio.gather(*(submitter(range(w, count, 64)) for w in range(64)))
        waiting = asyncio.create_task(_drain(jobs))
        await asyncio.sleep(0.1)
        pending = {"tasks": len(asyncio.all_tasks()) - tasks_before - 1,
                   "rss": rss_mb() - before, "still_pending": sum(not j.done() for j in jobs)}
        with Ticker() as ticker:
            await waiting
        return {**pending, "stall": ticker.worst * 1000, "gc": ticker.worst_gc * 1000,
                "not_gc": ticker.worst_not_gc * 1000, "polls": sum(j.polls for j in jobs) / count}


async def _drain(jobs: list[Job]) -> None:
    async for _ in as_completed(jobs):
        pass


async def baseline_pending(count: int, scale: float) -> dict[str, float]:
    async with emulator_process(scale) as url, aiohttp.ClientSession(
        headers={"X-API-Key": KEY}
    ) as session:
        async with session.get(f"{url}/profiles/ids"):
            pass
        tasks_before = len(asyncio.all_tasks())
        before = rss_mb()
        limit = asyncio.Semaphore(64)
        polls = 0
        submitted = asyncio.Event()
        done: set[int] = set()

        async def one(index: int) -> None:
            nonlocal polls
            body = {"prompt": f"generate {index}", "async": True, "response_mode": "urls",
                    "output_format": "jpg"}
            async with limit, session.post(f"{url}/generate", json=body) as resp:
                job_id = (await resp.json())["job_id"]
            done.add(index)
            if len(done) == count:
                submitted.set()
            while True:
                await asyncio.sleep(5.0 / scale)
                async with limit, session.get(f"{url}/jobs/{job_id}") as resp:
                    polls += 1
                    if (await resp.json())["status"] in ("completed", "failed"):
                        return

        all_done = asyncio.gather(*(one(i) for i in range(count)))
        await submitted.wait()
        pending = {"tasks": len(asyncio.all_tasks()) - tasks_before,
                   "rss": rss_mb() - before, "still_pending": count}
        with Ticker() as ticker:
            await all_done
        return {**pending, "stall": ticker.worst * 1000, "gc": ticker.worst_gc * 1000,
                "not_gc": ticker.worst_not_gc * 1000, "polls": polls / count}


def run_isolated(variant: str, count: int, scale: float) -> dict[str, float]:
    """Run one variant of C in a fresh process, so that neither inherits the other's heap."""
    out = subprocess.run(
        [sys.executable, __file__, "--variant", variant, "--pending", str(count),
         "--scale", str(scale)],
        check=True, capture_output=True, text=True,
    ).stdout
    figures: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--pending", type=int, default=10000)
    parser.add_argument("--scale", type=float, default=20.0)
    parser.add_argument("--variant", choices=["sdk", "baseline"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:  # one isolated part of C, run by run_isolated
        run = sdk_pending if args.variant == "sdk" else baseline_pending
        print(json.dumps(await run(args.pending, args.scale)))
        return

    print(f"A. {args.jobs} image jobs (generate 55 s / edit 48 s), time x{args.scale:g}")
    polls, lags = await sdk_polling(args.jobs, args.scale)
    print(describe("phota_async", polls, lags))
    base_polls, base_lags = await baseline_polling(args.jobs, args.scale)
    print(describe("raw aiohttp, poll every 5 s", base_polls, base_lags))
    print(f"   ratio: polls {polls / base_polls:.2f}x, mean lag "
          f"{statistics.mean(lags) / statistics.mean(base_lags):.2f}x of the baseline")

    print(f"\nB. {args.jobs} image jobs with a callback_url")
    confirming, after = await sdk_webhooks(args.jobs, args.scale)
    after.sort()
    print(f"   GETs per job {confirming:.2f}; callback -> resolved: median "
          f"{statistics.median(after):.1f} ms, p95 {after[int(len(after) * 0.95) - 1]:.1f} ms, "
          f"max {after[-1]:.1f} ms")

    scale_c = 2.0
    print(f"\nC. {args.pending} jobs pending at once (each variant in a fresh process, the "
          f"emulator in another, time x{scale_c:g})")
    for name, variant in (("phota_async", "sdk"), ("raw aiohttp, task per job", "baseline")):
        fig = run_isolated(variant, args.pending, scale_c)
        print(f"   {name:<26} tasks {fig['tasks']:6.0f}  extra RSS {fig['rss']:6.1f} MB "
              f"({fig['still_pending']:.0f} pending)  polls/job {fig['polls']:.2f}  worst loop "
              f"stall {fig['stall']:6.1f} ms (GC pause {fig['gc']:.1f} ms; "
              f"{fig['not_gc']:.1f} ms without it)")


if __name__ == "__main__":
    asyncio.run(main())
