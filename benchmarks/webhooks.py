"""webhooks: jobs submitted with a ``callback_url``; the callback makes them resolve.

Jobs are submitted at a steady pace (a pipeline feeding work in), half generate (55 s) and half
edit (48 s) in scaled time, each with a callback to a server in this process. Figures: GET
/jobs per job (the callback only says where to look: one confirming GET is the floor), and the
milliseconds from the callback reaching this process to ``await job`` returning.
Baseline, same run: raw aiohttp whose callback handler checks the signature and sends the
same confirming GET itself.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp import web

from phota_async import AsyncPhota, Job, PollConfig
from phota_async.emulator import sample_photo

from ._common import KEY, check, emulator, median, percentile, print_table, warm_up

SCALE = 20.0  # generate ends after 2.75 s, edit after 2.4 s
PACE = 200.0  # submits per second


@asynccontextmanager
async def callback_server(
    receive: Callable[[bytes, Any], Awaitable[None]],
) -> AsyncIterator[str]:
    async def handler(request: web.Request) -> web.StreamResponse:
        await receive(await request.read(), request.headers)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/cb", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/cb"
    finally:
        await runner.cleanup()


async def paced(count: int, submit: Callable[[int], Awaitable[Any]]) -> list[Any]:
    """``submit(i)`` started at ``PACE`` per second; the results in order."""
    tasks = []
    start = time.perf_counter()
    for index in range(count):
        await asyncio.sleep(max(0.0, start + index / PACE - time.perf_counter()))
        tasks.append(asyncio.create_task(submit(index)))
    return list(await asyncio.gather(*tasks))


async def sdk_run(count: int) -> dict[str, float]:
    image = sample_photo(1)
    delivered: dict[str, float] = {}
    resolved: dict[str, float] = {}
    async with emulator(time_scale=SCALE, record_requests=True) as emu, AsyncPhota(
        api_key=KEY, base_url=emu.url, max_concurrency=64, poll=PollConfig(time_scale=SCALE)
    ) as phota:
        await phota.webhooks.secret()
        before = (await emu.stats())["job_gets"]

        async def receive(body: bytes, headers: Any) -> None:
            at = time.perf_counter()
            job = await phota.webhooks.handle(body, headers)
            if job is not None:
                delivered.setdefault(str(job.id), at)

        async with callback_server(receive) as url:
            def submit(i: int) -> Awaitable[Job]:
                if i % 2:
                    return phota.edit(f"edit {i}", [image], callback_url=url)
                return phota.generate(f"generate {i}", callback_url=url)

            async def submit_and_wait(i: int) -> None:
                job = await submit(i)
                await job
                resolved[str(job.id)] = time.perf_counter()

            await paced(count, submit_and_wait)
        gets = (await emu.stats())["job_gets"] - before
    return summarize(count, gets, delivered, resolved)


async def raw_run(count: int) -> dict[str, float]:
    body_image = base64.b64encode(sample_photo(1)).decode()
    delivered: dict[str, float] = {}
    resolved: dict[str, float] = {}
    futures: dict[str, asyncio.Future[None]] = {}
    async with emulator(time_scale=SCALE, record_requests=True) as emu, aiohttp.ClientSession(
        headers={"X-API-Key": KEY}
    ) as session:
        await warm_up(session, emu.url, 64)
        async with session.get(f"{emu.url}/webhook-secret") as resp:
            secret = (await resp.json())["secret"].encode()
        before = (await emu.stats())["job_gets"]
        limit = asyncio.Semaphore(64)

        async def receive(body: bytes, headers: Any) -> None:
            at = time.perf_counter()
            expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, headers.get("X-Phota-Signature", "")):
                return
            job_id = json.loads(body)["job_id"]
            delivered.setdefault(job_id, at)
            async with limit, session.get(f"{emu.url}/jobs/{job_id}") as resp:
                status = (await resp.json())["status"]
            future = futures.get(job_id)
            if status in ("completed", "failed") and future is not None and not future.done():
                future.set_result(None)

        async with callback_server(receive) as url:
            async def submit(i: int) -> None:
                endpoint = "edit" if i % 2 else "generate"
                body: dict[str, Any] = {
                    "prompt": f"{endpoint} {i}", "async": True, "response_mode": "urls",
                    "output_format": "jpg", "num_output_images": 1, "callback_url": url,
                    "client_request_id": f"phota-{uuid.uuid4().hex}",
                }
                if i % 2:
                    body["images"] = [body_image]
                async with limit, session.post(f"{emu.url}/{endpoint}", json=body) as resp:
                    job_id = (await resp.json())["job_id"]
                future = futures.setdefault(job_id, asyncio.get_running_loop().create_future())
                await future
                resolved[job_id] = time.perf_counter()

            await paced(count, submit)
        gets = (await emu.stats())["job_gets"] - before
    return summarize(count, gets, delivered, resolved)


def summarize(count: int, gets: int, delivered: dict[str, float],
              resolved: dict[str, float]) -> dict[str, float]:
    lags = [(resolved[j] - delivered[j]) * 1000 for j in resolved if j in delivered]
    return {"gets_per_job": gets / count, "lag_p50_ms": median(lags),
            "lag_p99_ms": percentile(lags, 99), "lag_max_ms": max(lags),
            "missed_callbacks": count - len(lags)}


async def run(quick: bool) -> dict[str, Any]:
    count, rounds = (300, 2) if quick else (1000, 3)
    sdk, raw = [], []
    for _ in range(rounds):
        raw.append(await raw_run(count))
        sdk.append(await sdk_run(count))
    metrics: dict[str, Any] = {"jobs": count, "rounds": rounds}
    rows = []
    for name, runs in (("raw aiohttp (handler GETs)", raw), ("phota_async", sdk)):
        figures = {key: median(r[key] for r in runs) for key in runs[0]}
        metrics["sdk" if runs is sdk else "raw"] = figures
        rows.append([name, figures["gets_per_job"], figures["lag_p50_ms"],
                     figures["lag_p99_ms"], figures["lag_max_ms"]])
    print_table(f"webhooks: {count:,} jobs with callbacks, {PACE:g} submits/s, "
                f"medians of {rounds} rounds",
                ["client", "GETs/job", "p50 ms", "p99 ms", "max ms"], rows)
    return {"metrics": metrics, "checks": [
        check("GETs per job", metrics["sdk"]["gets_per_job"], "<=", 1.05),
        check("callback-to-resolved p99 ms", metrics["sdk"]["lag_p99_ms"], "<", 50.0),
    ]}
