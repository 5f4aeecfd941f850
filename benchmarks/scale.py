"""scale: 10,000 jobs pending at once in one client.

A client with its default settings submits the jobs (16 at a time), then awaits them together
while their polls come due.
Figures: tasks alive while they are pending (the scheduler's fixed pool: it must not grow with the
job count, so the same client is also run with a tenth of the jobs), extra RSS over the process
before the first submit, loop lag p99 and max (a 1 ms ticker) while they resolve, and polls per
job. Baseline, same run: raw aiohttp with one sleeping task per job polling every 5 s. Each
variant runs in a fresh process (neither inherits the other's heap), the emulator in another.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import aiohttp

from phota_async import AsyncPhota, Job, PollConfig, as_completed

from ._common import KEY, ROOT, LoopLag, check, emulator, median, print_table, rss_mb, warm_up

WIDTH = 16  # the client's default max_concurrency; the baseline gets the same cap


async def sdk_pending(url: str, count: int, scale: float) -> dict[str, float]:
    async with AsyncPhota(api_key=KEY, base_url=url, poll=PollConfig(time_scale=scale)) as phota:
        await phota.profiles.list()  # the session exists before anything is measured
        tasks_before, before = len(asyncio.all_tasks()), rss_mb()
        jobs: list[Job] = []

        async def submitter(indexes: range) -> None:
            for index in indexes:
                jobs.append(await phota.generate(f"generate {index}"))

        await asyncio.gather(*(submitter(range(w, count, WIDTH)) for w in range(WIDTH)))
        waiting = asyncio.create_task(_drain(jobs))
        await asyncio.sleep(0.1)
        pending = {"tasks": len(asyncio.all_tasks()) - tasks_before - 1,
                   "extra_rss_mb": rss_mb() - before,
                   "pending": sum(not j.done() for j in jobs)}
        with LoopLag() as lag:
            await waiting
        return {**pending, "lag_p99_ms": lag.p99_ms(), "lag_max_ms": lag.max_ms(),
                "cpu_lag_p99_ms": lag.cpu_p99_ms(),
                "polls_per_job": sum(j.polls for j in jobs) / count}


async def _drain(jobs: list[Job]) -> None:
    async for _ in as_completed(jobs):
        pass


async def raw_pending(url: str, count: int, scale: float) -> dict[str, float]:
    async with aiohttp.ClientSession(headers={"X-API-Key": KEY}) as session:
        await warm_up(session, url, 1)
        tasks_before, before = len(asyncio.all_tasks()), rss_mb()
        limit = asyncio.Semaphore(WIDTH)
        polls = 0
        submitted = asyncio.Event()
        done = 0

        async def one(index: int) -> None:
            nonlocal polls, done
            body = {"prompt": f"generate {index}", "async": True, "response_mode": "urls",
                    "output_format": "jpg", "num_output_images": 1}
            async with limit, session.post(f"{url}/generate", json=body) as resp:
                job_id = (await resp.json())["job_id"]
            done += 1
            if done == count:
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
                   "extra_rss_mb": rss_mb() - before, "pending": count}
        with LoopLag() as lag:
            await all_done
        return {**pending, "lag_p99_ms": lag.p99_ms(), "lag_max_ms": lag.max_ms(),
                "cpu_lag_p99_ms": lag.cpu_p99_ms(), "polls_per_job": polls / count}


async def isolated(variant: str, url: str, count: int, scale: float) -> dict[str, float]:
    """One variant in a fresh Python process."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.scale", variant, url, str(count), str(scale),
        stdout=asyncio.subprocess.PIPE, cwd=ROOT,
    )
    out, _ = await process.communicate()
    if process.returncode:
        raise RuntimeError(f"scale {variant} failed ({process.returncode})")
    figures: dict[str, float] = json.loads(out.decode().strip().splitlines()[-1])
    return figures


async def run(quick: bool) -> dict[str, Any]:
    count, scale, rounds = (10_000, 10.0, 1) if quick else (10_000, 5.0, 3)
    runs: dict[str, list[dict[str, float]]] = {"raw": [], "sdk": [], "sdk_small": []}
    for _ in range(rounds):
        for variant, jobs in (("raw", count), ("sdk", count), ("sdk_small", count // 10)):
            # Plain outputs: drawing 10,000 pictures as the jobs end would be most of the run.
            async with emulator(time_scale=scale, plain_outputs=True) as emu:
                runs[variant].append(await isolated(variant.split("_")[0], emu.url, jobs, scale))
    metrics: dict[str, Any] = {"jobs": count, "time_scale": scale, "rounds": rounds}
    rows = []
    for variant, name in (("raw", f"raw aiohttp, task per job ({count:,})"),
                          ("sdk", f"phota_async ({count:,})"),
                          ("sdk_small", f"phota_async ({count // 10:,})")):
        figures = {key: median(r[key] for r in runs[variant]) for key in runs[variant][0]}
        metrics[variant] = figures
        rows.append([name, figures["tasks"], figures["extra_rss_mb"], figures["lag_p99_ms"],
                     figures["cpu_lag_p99_ms"], figures["lag_max_ms"], figures["polls_per_job"]])
    print_table(f"scale: {count:,} jobs pending in one client, time x{scale:g}, "
                f"medians of {rounds} rounds",
                ["client", "tasks", "extra RSS MB", "lag p99 ms", "own-CPU lag p99 ms",
                 "lag max ms", "polls/job"],
                rows)
    sdk = metrics["sdk"]
    return {"metrics": metrics, "checks": [
        check("tasks(10,000) - tasks(1,000)", sdk["tasks"] - metrics["sdk_small"]["tasks"],
              "==", 0),
        check("extra RSS MB", sdk["extra_rss_mb"], "<", 64),
        check("loop lag p99 ms", sdk["lag_p99_ms"], "<", 10),
        check("loop lag p99 ms, own CPU (load excluded)", sdk["cpu_lag_p99_ms"], "<", 10),
    ]}


def main() -> None:
    parser = argparse.ArgumentParser(description="one isolated variant of the scale case")
    parser.add_argument("variant", choices=["sdk", "raw"])
    parser.add_argument("url")
    parser.add_argument("count", type=int)
    parser.add_argument("scale", type=float)
    args = parser.parse_args()
    work = sdk_pending if args.variant == "sdk" else raw_pending
    print(json.dumps(asyncio.run(work(args.url, args.count, args.scale))))


if __name__ == "__main__":
    main()
