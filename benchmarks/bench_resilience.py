"""A 429 storm: many submits against a server-side rate limit, with faults, never billed twice.

    .venv/bin/python benchmarks/bench_resilience.py [--jobs 300] [--rps 20]

The in-process emulator limits every API path to ``--rps`` requests per second (a token bucket,
``Retry-After: 1``) and, in the faulty run, also answers 5% of requests with 500/502/503 and
drops 2% of connections after billing. Each run submits ``--jobs`` generate jobs at once and
waits for all of them. Figures: wall time, 429s seen, goodput (successful requests per second
against the limit), charges per job (duplicates must be 0). Baseline: raw aiohttp with the
usual hand-written loop (resend on 429 after Retry-After, same client_request_id).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections import Counter
from typing import Any

import aiohttp

from phota_async import AsyncPhota, PollConfig, RequestEvent, RetryPolicy, gather
from phota_async.emulator import Dialect, PhotaEmulator

KEY = "bench-key"
SCALE = 60.0  # a 55 s job takes ~0.9 s


def figures(emu: PhotaEmulator, jobs: int, elapsed: float) -> str:
    """Wall time, requests the server saw, and what it billed (one charge per job, or not)."""
    charges = Counter(c.client_request_id for c in emu.ledger if c.kind == "image")
    duplicates = sum(n - 1 for n in charges.values() if n > 1)
    requests = sum(1 for r in emu.requests if r.api_path is not None)
    return (f"{elapsed:6.1f} s  requests {requests:5d}  jobs billed {len(charges):4d}/{jobs}  "
            f"duplicate charges {duplicates}")


async def sdk_run(jobs: int, rps: float, *, faults: bool, client_rate: float | None) -> str:
    async with PhotaEmulator(api_keys=(KEY,), time_scale=SCALE, seed=3,
                             dialect=Dialect(poll_hints=False)) as emu:
        emu.rate_limit(rps, burst=int(rps), retry_after="1")
        if faults:
            emu.inject("*", status=[500, 502, 503], probability=0.05)
            emu.inject("/generate", method="POST", drop="after", probability=0.02)
        events: Counter[str] = Counter()

        def count(event: RequestEvent) -> None:
            if event.kind == "end":
                events[str(event.status or type(event.error).__name__)] += 1

        started = time.monotonic()
        async with AsyncPhota(api_key=KEY, base_url=emu.url, rate_limit=client_rate,
                              poll=PollConfig(time_scale=SCALE), on_event=count,
                              retry=RetryPolicy(max_attempts=8, retry_after_cap=2.0)) as phota:
            submitted = await asyncio.gather(
                *(phota.generate(f"storm {i}") for i in range(jobs)), return_exceptions=True
            )
            live = [job for job in submitted if not isinstance(job, BaseException)]
            results = await gather(live, return_exceptions=True)
        elapsed = time.monotonic() - started
        failed = sum(isinstance(r, BaseException) for r in [*submitted, *results])
        good = sum(n for status, n in events.items() if status.startswith("2"))
        return (f"{figures(emu, jobs, elapsed)}  429s {events.get('429', 0)}  "
                f"failed {failed}  goodput {good / elapsed / rps:5.1%} of the limit")


async def baseline_run(jobs: int, rps: float) -> str:
    async with PhotaEmulator(api_keys=(KEY,), time_scale=SCALE, seed=3,
                             dialect=Dialect(poll_hints=False)) as emu:
        emu.rate_limit(rps, burst=int(rps), retry_after="1")
        seen: Counter[int] = Counter()
        started = time.monotonic()
        async with aiohttp.ClientSession(headers={"X-API-Key": KEY}) as session:

            async def call(method: str, url: str, body: Any = None) -> Any:
                while True:
                    async with session.request(method, url, json=body) as resp:
                        seen[resp.status] += 1
                        if resp.status == 429:
                            await asyncio.sleep(float(resp.headers.get("Retry-After", "1")))
                            continue
                        return await resp.json()

            async def one(index: int) -> None:
                body = {"prompt": f"storm {index}", "async": True, "response_mode": "urls",
                        "output_format": "jpg", "client_request_id": uuid.uuid4().hex}
                job_id = (await call("POST", f"{emu.url}/generate", body))["job_id"]
                # The baseline's naive loop, on purpose.
                while (await call("GET", f"{emu.url}/jobs/{job_id}"))["status"] != "completed":  # noqa: ASYNC110
                    await asyncio.sleep(5 / SCALE)

            await asyncio.gather(*(one(i) for i in range(jobs)))
        elapsed = time.monotonic() - started
        good = sum(n for status, n in seen.items() if 200 <= status < 300)
        return (f"{figures(emu, jobs, elapsed)}  429s {seen[429]}  "
                f"goodput {good / elapsed / rps:5.1%} of the limit")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--rps", type=float, default=20.0)
    args = parser.parse_args()
    print(f"{args.jobs} generate jobs against {args.rps:g} req/s (all API paths)")
    print("phota_async, adaptive limiter only:")
    print("  " + await sdk_run(args.jobs, args.rps, faults=False, client_rate=None))
    print(f"phota_async, rate_limit={args.rps:g}:")
    print("  " + await sdk_run(args.jobs, args.rps, faults=False, client_rate=args.rps))
    print(f"phota_async, rate_limit={args.rps:g}, 5% 5xx and 2% drops after billing:")
    print("  " + await sdk_run(args.jobs, args.rps, faults=True, client_rate=args.rps))
    print("raw aiohttp, resend on 429 after Retry-After:")
    print("  " + await baseline_run(args.jobs, args.rps))


if __name__ == "__main__":
    asyncio.run(main())
