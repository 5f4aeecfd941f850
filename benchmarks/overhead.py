"""overhead: what the SDK costs per request, against raw aiohttp doing the same requests.

N async submits (``await phota.generate``), then one poll of each job through the scheduler
(``await job``), then one ``await job.refresh()`` of each, ``64`` in flight, against the emulator
in its own process with zero latency (jobs end microseconds after their submit). The baseline, in
the same run and against the same server, sends the same bodies with a plain
``aiohttp.ClientSession`` and decodes the JSON answers. Rounds alternate baseline and SDK; each
figure is the median over rounds, each ratio the median of the rounds' paired ratios. CPU is
``time.process_time()`` of this (the client's) process.
"""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp

from phota_async import AsyncPhota, PollConfig

from ._common import KEY, Clocks, check, emulator, in_flight, median, print_table, warm_up

WIDTH = 64
SCALE = 1e6  # a 55 s job ends 55 us after its submit: the server adds no waiting
PHASES = ("submit", "await job", "refresh")


async def sdk_round(url: str, count: int) -> dict[str, Clocks]:
    clocks = {phase: Clocks() for phase in PHASES}
    async with AsyncPhota(api_key=KEY, base_url=url, max_concurrency=WIDTH,
                          poll=PollConfig(time_scale=SCALE)) as phota:
        await in_flight(WIDTH, WIDTH, lambda _: phota.profiles.list())  # open the connections
        with clocks["submit"].measure():
            jobs = await in_flight(count, WIDTH, lambda i: phota.generate(f"bench {i}"))
        with clocks["await job"].measure():
            await in_flight(count, WIDTH, lambda i: jobs[i].result())
        with clocks["refresh"].measure():
            await in_flight(count, WIDTH, lambda i: jobs[i].refresh())
        polls = sum(job.polls for job in jobs) / count
    if abs(polls - 1.0) > 0.01:
        raise RuntimeError(f"await job took {polls:.2f} polls per job, not 1: not comparable")
    return clocks


async def raw_round(url: str, count: int) -> dict[str, Clocks]:
    clocks = {phase: Clocks() for phase in PHASES}
    async with aiohttp.ClientSession(headers={"X-API-Key": KEY}) as session:
        await warm_up(session, url, WIDTH)

        async def submit(index: int) -> str:
            body = {"prompt": f"bench {index}", "num_output_images": 1, "output_format": "jpg",
                    "response_mode": "urls", "client_request_id": f"phota-{uuid.uuid4().hex}",
                    "async": True}
            async with session.post(f"{url}/generate", json=body) as resp:
                resp.raise_for_status()
                job_id: str = (await resp.json())["job_id"]
                return job_id

        async def poll(job_id: str) -> Any:
            async with session.get(f"{url}/jobs/{job_id}") as resp:
                resp.raise_for_status()
                return (await resp.json())["status"]

        with clocks["submit"].measure():
            ids = await in_flight(count, WIDTH, submit)
        for phase in PHASES[1:]:
            with clocks[phase].measure():
                await in_flight(count, WIDTH, lambda i: poll(ids[i]))
    return clocks


async def run(quick: bool) -> dict[str, Any]:
    count, rounds = (2000, 3) if quick else (5000, 5)
    sdk: list[dict[str, Clocks]] = []
    raw: list[dict[str, Clocks]] = []
    async with emulator(time_scale=SCALE) as emu:
        for _ in range(rounds):
            raw.append(await raw_round(emu.url, count))
            sdk.append(await sdk_round(emu.url, count))
    metrics: dict[str, Any] = {"operations": count, "in_flight": WIDTH, "rounds": rounds}
    rows = []
    for phase in PHASES:
        key = phase.replace(" ", "_")
        raw_us = median(r[phase].cpu for r in raw) / count * 1e6
        sdk_us = median(s[phase].cpu for s in sdk) / count * 1e6
        cpu_ratio = median(s[phase].cpu / r[phase].cpu for s, r in zip(sdk, raw, strict=True))
        wall_ratio = median(s[phase].wall / r[phase].wall for s, r in zip(sdk, raw, strict=True))
        gc_raw = median(r[phase].gc0 for r in raw)
        gc_sdk = median(s[phase].gc0 for s in sdk)
        metrics[key] = {"raw_cpu_us": raw_us, "sdk_cpu_us": sdk_us, "cpu_ratio": cpu_ratio,
                        "wall_ratio": wall_ratio, "raw_gc0": gc_raw, "sdk_gc0": gc_sdk,
                        "raw_wall_s": median(r[phase].wall for r in raw),
                        "sdk_wall_s": median(s[phase].wall for s in sdk)}
        rows.append([phase, raw_us, sdk_us, cpu_ratio, wall_ratio, f"{gc_raw:g} / {gc_sdk:g}"])
    print_table(
        f"overhead: {count:,} operations each, {WIDTH} in flight, medians of {rounds} rounds",
        ["operation", "raw us CPU", "SDK us CPU", "CPU ratio", "wall ratio", "gen-0 GCs raw/SDK"],
        rows,
    )
    # The case as the issue defines it: each job submitted, then polled once (``await job``).
    case = {"sdk_cpu": [s["submit"].cpu + s["await job"].cpu for s in sdk],
            "raw_cpu": [r["submit"].cpu + r["await job"].cpu for r in raw],
            "sdk_wall": [s["submit"].wall + s["await job"].wall for s in sdk],
            "raw_wall": [r["submit"].wall + r["await job"].wall for r in raw]}
    metrics["submit_and_poll"] = {
        "raw_cpu_us": median(case["raw_cpu"]) / count * 1e6,
        "sdk_cpu_us": median(case["sdk_cpu"]) / count * 1e6,
        "cpu_ratio": median(s / r for s, r in zip(case["sdk_cpu"], case["raw_cpu"], strict=True)),
        "wall_ratio": median(s / r for s, r in zip(case["sdk_wall"], case["raw_wall"],
                                                   strict=True)),
    }
    whole = metrics["submit_and_poll"]
    print(f"  submit + await job, per job: raw {whole['raw_cpu_us']:.0f} us CPU, SDK "
          f"{whole['sdk_cpu_us']:.0f} us: CPU {whole['cpu_ratio']:.2f}x, wall "
          f"{whole['wall_ratio']:.2f}x")
    return {"metrics": metrics, "checks": [
        check("submit + poll CPU ratio", whole["cpu_ratio"], "<=", 1.4),
        check("submit + poll wall ratio", whole["wall_ratio"], "<=", 1.15),
        *(check(f"{phase} CPU ratio", metrics[phase.replace(" ", "_")]["cpu_ratio"], "<=", 1.4)
          for phase in PHASES),
    ]}
