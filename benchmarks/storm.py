"""storm: many submits at once against a server that allows 20 requests per second.

The emulator (its own process) answers 429 with ``Retry-After: 1`` beyond a token bucket of
20 req/s over every API path. The client submits every job at once and waits for all of them
(polls count against the same limit). Figures: goodput (2xx answers per second, as a share of the
limit), 429s as a share of all requests, jobs billed and duplicate charges (from the server's
ledger), failures. Rows: phota_async told the account's limit (``rate_limit=20``: the target
row), the same with 5% of answers a 5xx and 2% of submits dropped after billing, the adaptive
limiter alone (no ``rate_limit``), and raw aiohttp with the usual loop (resend after
``Retry-After`` with the same ``client_request_id``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from typing import Any

import aiohttp

from phota_async import AsyncPhota, PollConfig, RequestEvent, gather

from ._common import KEY, check, emulator, print_table

RPS = 20.0
SCALE = 60.0  # a 55 s job ends after ~0.9 s


async def sdk_run(count: int, *, faults: bool, rate: float | None) -> dict[str, float]:
    statuses: Counter[str] = Counter()

    def count_status(event: RequestEvent) -> None:
        if event.kind == "end":
            statuses[str(event.status or type(event.error).__name__)] += 1

    async with emulator(time_scale=SCALE, rate_limit=[RPS, int(RPS)], faults=faults,
                        record_requests=True, seed=3) as emu:
        started = time.perf_counter()
        async with AsyncPhota(api_key=KEY, base_url=emu.url, rate_limit=rate,
                              poll=PollConfig(time_scale=SCALE), on_event=count_status) as phota:
            submitted = await asyncio.gather(
                *(phota.generate(f"storm {i}") for i in range(count)), return_exceptions=True
            )
            live = [job for job in submitted if not isinstance(job, BaseException)]
            results = await gather(live, return_exceptions=True)
        elapsed = time.perf_counter() - started
        server = await emu.stats()
    failed = sum(isinstance(r, BaseException) for r in [*submitted, *results])
    return figures(count, elapsed, statuses, server, failed)


async def raw_run(count: int) -> dict[str, float]:
    statuses: Counter[str] = Counter()
    async with emulator(time_scale=SCALE, rate_limit=[RPS, int(RPS)], record_requests=True,
                        seed=3) as emu:
        started = time.perf_counter()
        async with aiohttp.ClientSession(headers={"X-API-Key": KEY}) as session:

            async def call(method: str, url: str, body: Any = None) -> Any:
                while True:
                    async with session.request(method, url, json=body) as resp:
                        statuses[str(resp.status)] += 1
                        if resp.status == 429:
                            await asyncio.sleep(float(resp.headers.get("Retry-After", "1")))
                            continue
                        return await resp.json()

            async def one(index: int) -> None:
                body = {"prompt": f"storm {index}", "async": True, "response_mode": "urls",
                        "output_format": "jpg", "client_request_id": uuid.uuid4().hex}
                job_id = (await call("POST", f"{emu.url}/generate", body))["job_id"]
                await asyncio.sleep(55 / SCALE)  # the docs' typical duration, then every 2 s
                # The usual hand-written loop, on purpose.
                while (await call("GET", f"{emu.url}/jobs/{job_id}"))["status"] != "completed":  # noqa: ASYNC110
                    await asyncio.sleep(2 / SCALE)

            await asyncio.gather(*(one(i) for i in range(count)))
        elapsed = time.perf_counter() - started
        server = await emu.stats()
    return figures(count, elapsed, statuses, server, 0)


def figures(count: int, elapsed: float, statuses: Counter[str], server: dict[str, Any],
            failed: int) -> dict[str, float]:
    requests = sum(statuses.values())
    good = sum(n for status, n in statuses.items() if status.startswith("2"))
    return {"seconds": elapsed, "requests": requests, "goodput": good / elapsed / RPS,
            "share_429": statuses.get("429", 0) / max(1, requests),
            "billed": server["jobs_billed"], "duplicate_charges": server["duplicate_charges"],
            "failed": failed, "jobs": count}


async def run(quick: bool) -> dict[str, Any]:
    count, extra = (80, 80) if quick else (2000, 500)
    rows_spec: list[tuple[str, str, Any]] = [
        ("raw", "raw aiohttp, resend after Retry-After", lambda: raw_run(count)),
        ("sdk", f"phota_async, rate_limit={RPS:g}",
         lambda: sdk_run(count, faults=False, rate=RPS)),
        ("sdk_faults", f"phota_async, rate_limit={RPS:g}, 5% 5xx, 2% drops",
         lambda: sdk_run(extra, faults=True, rate=RPS)),
    ]
    if not quick:
        rows_spec.append(("sdk_adaptive", "phota_async, adaptive limiter only",
                          lambda: sdk_run(extra, faults=False, rate=None)))
    metrics: dict[str, Any] = {"rps_limit": RPS}
    rows = []
    for key, name, work in rows_spec:
        result = await work()
        metrics[key] = result
        rows.append([name, int(result["jobs"]), result["seconds"], result["goodput"] * 100,
                     result["share_429"] * 100, f"{result['billed']}/{result['jobs']}",
                     int(result["duplicate_charges"]), int(result["failed"])])
    print_table(f"storm: submits against {RPS:g} req/s (one run each: a run is minutes of "
                "wall time set by the limit, not by the machine)",
                ["client", "jobs", "seconds", "goodput %", "429s %", "billed",
                 "duplicates", "failed"], rows)
    checks = [check("goodput share of the limit", metrics["sdk"]["goodput"], ">=", 0.9),
              check("429s share of requests", metrics["sdk"]["share_429"], "<=", 0.1)]
    checks += [check(f"duplicate charges ({key})", metrics[key]["duplicate_charges"], "==", 0)
               for key, _, _ in rows_spec if key != "raw"]
    return {"metrics": metrics, "checks": checks}
