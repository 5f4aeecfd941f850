"""Many worker processes, one account: a shared rate budget and webhook fan-out through Redis.

    .venv/bin/python benchmarks/bench_many_workers.py [--processes 4] [--submits 500] [--rps 20]
                                                      [--jobs 1000] [--items 200] [--workers 3]
                                                      [--only budget|fanout|batch]

Needs ``redis-server`` on PATH and the ``redis`` extra. Every role runs in its own process: a
``redis-server``, the emulator (the same settings as ``python -m phota_async.emulator
--rate-limit RPS``: a token bucket of RPS with a burst of RPS, ``Retry-After: 1``; it reports its
billing ledger when told to stop), and the worker processes.

1. Rate budget: ``--processes`` processes submit ``--submits`` generate jobs each, at once,
   against the emulator limited to ``--rps``. Without coordination each process paces itself at
   ``rate_limit=RPS`` (each believes it has the account's limit); with it, they share one
   ``RedisCoordination(rate_limit=RPS)``. Figures: 429s per request, goodput (submits accepted
   per second against the limit), duplicate charges in the emulator's ledger.
2. Webhook fan-out: ``--processes`` aiohttp workers submit ``--jobs`` jobs in all, each with a
   ``callback_url`` of a worker picked at random, and await their own jobs. Figures: jobs
   resolved in the worker awaiting them, callback-to-resolved latency (the callback's arrival
   in one process to the job's resolution in another, one machine's clock), GETs per job. The
   same run without coordination, for contrast: a callback landing elsewhere is lost and the
   job waits for its poll.

3. A distributed batch (``phota_async.batch.distributed``): ``--items`` generate tasks enqueued
   once, run by ``--workers`` arq worker processes sharing a ``RedisJournal``; once a third of the
   items are saved, one worker is killed with SIGKILL and started again, under its own name (it
   takes back at once the items it held) or under a new one (they wait for arq's lease,
   ``job_timeout`` + 10 s, then any worker runs them). Figures: items done, image jobs billed and
   billed twice (the emulator's ledger), submits sent again and answered with the original job,
   the items the killed worker held mid-run (and of them, those with a paid request journaled),
   wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from typing import Any

KEY = "bench-key"
RETRY = {"max_attempts": 30, "retry_after_cap": 2.0}
FANOUT_SCALE = 60.0  # a 30 s job takes 0.5 s; its first poll comes ~1.7 s after the submit
FANOUT_JOB_SECONDS = 30.0
BATCH_SCALE, BATCH_JOB_SECONDS = 600.0, 120.0  # an image job takes 0.2 s
BATCH_JOB_TIMEOUT = 20.0  # arq's lease on a killed worker's items: 30 s
BATCH_MAX_JOBS = 8  # items per worker at once


# --- Roles (each in its own process) --------------------------------------------------------


async def read_line() -> str:
    return await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


def say(payload: dict[str, Any]) -> None:
    print(json.dumps(payload), flush=True)


async def emulator_role(cfg: dict[str, Any]) -> None:
    from phota_async.emulator import PhotaEmulator

    emu = PhotaEmulator(api_keys=(KEY,), time_scale=cfg["scale"],
                        image_job_seconds=cfg.get("job_seconds"), seed=1)
    if cfg.get("rps"):
        emu.rate_limit(cfg["rps"], burst=max(1, math.ceil(cfg["rps"])), retry_after="1")
    async with emu:
        say({"url": emu.url})
        await read_line()  # until the parent asks for the figures
        charges = Counter(c.client_request_id for c in emu.ledger if c.kind == "image")
        say({
            "billed": sum(charges.values()),
            "duplicates": sum(n - 1 for n in charges.values() if n > 1),
            "refunds": sum(1 for c in emu.ledger if c.kind == "refund"),
            "job_gets": len(emu.api_requests("/jobs/*", "GET")),
            "submits": len(emu.api_requests("/generate", "POST")),
        })


def client(cfg: dict[str, Any], **options: Any) -> Any:
    from phota_async import AsyncPhota, RedisCoordination, RetryPolicy

    coordination = None
    if cfg["shared"]:
        coordination = RedisCoordination(cfg["redis"], rate_limit=cfg.get("rps"),
                                         prefix=cfg["prefix"])
    return AsyncPhota(api_key=KEY, base_url=cfg["url"], coordination=coordination,
                      retry=RetryPolicy(**RETRY), **options)


async def submitter_role(cfg: dict[str, Any]) -> None:
    from phota_async import RequestEvent

    seen: Counter[str] = Counter()

    def count(event: RequestEvent) -> None:
        if event.kind == "end":
            seen["requests"] += 1
            seen["429"] += event.status == 429

    rate = None if cfg["shared"] else cfg["rps"]
    async with client(cfg, rate_limit=rate, on_event=count) as phota:
        say({"ready": True})
        await read_line()
        started = time.time()
        done = await asyncio.gather(*(
            phota.generate(f"p{cfg['index']} {i}", client_request_id=f"{cfg['prefix']}-"
                           f"{cfg['index']}-{i}")
            for i in range(cfg["submits"])
        ), return_exceptions=True)
        ended = time.time()
    failed = sum(isinstance(d, BaseException) for d in done)
    say({"ok": len(done) - failed, "failed": failed, "requests": seen["requests"],
         "429": seen["429"], "started": started, "ended": ended})


async def webworker_role(cfg: dict[str, Any]) -> None:
    from aiohttp import web

    from phota_async import PollConfig

    arrivals: dict[str, float] = {}
    async with client(cfg, poll=PollConfig(time_scale=FANOUT_SCALE)) as phota:
        handler = phota.webhooks.aiohttp_handler()

        async def route(request: web.Request) -> web.StreamResponse:
            arrived = time.time()
            response = await handler(request)
            arrivals[json.loads(await request.read())["job_id"]] = arrived  # bookkeeping only
            return response

        app = web.Application()
        app.router.add_post("/cb", route)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        say({"port": runner.addresses[0][1]})
        urls = json.loads(await read_line())
        rng = random.Random(cfg["index"])
        interval = cfg["processes"] / cfg["rate"] if cfg.get("rate") else 0.0
        started = time.monotonic()

        async def submit_and_await(i: int) -> Any:
            await asyncio.sleep(max(0.0, started + i * interval - time.monotonic()))
            job = await phota.generate(f"w{cfg['index']} {i}", callback_url=rng.choice(urls))
            with contextlib.suppress(Exception):  # counted below as unresolved
                await job.result(timeout=120)
            return job

        jobs = await asyncio.gather(*(submit_and_await(i) for i in range(cfg["jobs"])))
        say({"resolved": {str(job.id): job.resolved_at for job in jobs if job.done()}})
        await read_line()  # every worker is done: late callbacks have landed
        await runner.cleanup()
    say({"arrivals": arrivals})


def batch_work(items: int) -> list[Any]:
    from phota_async import ImageTask

    return [ImageTask.generate(f"item-{i:03d}", f"Studio headshot, take {i}")
            for i in range(items)]


async def batchworker_role(cfg: dict[str, Any]) -> None:
    from arq.worker import create_worker

    from phota_async import AsyncPhota, PollConfig, RetryPolicy
    from phota_async.batch import distributed

    def client() -> AsyncPhota:
        return AsyncPhota(api_key=KEY, base_url=cfg["url"], retry=RetryPolicy(**RETRY),
                          poll=PollConfig(time_scale=BATCH_SCALE))

    logging.getLogger("phota_async").setLevel(logging.ERROR)  # "took back N items": counted
    settings = distributed.worker_settings(
        cfg["redis"], batch_id=cfg["batch_id"], work=batch_work(cfg["items"]), out=cfg["out"],
        client=client, name=cfg["name"], job_timeout=BATCH_JOB_TIMEOUT, max_jobs=BATCH_MAX_JOBS)
    # Burst mode: the worker exits once the batch's queue is empty.
    worker = create_worker(settings, burst=True, poll_delay=0.05)
    try:
        await worker.main()
    finally:
        await worker.close()


ROLES = {"emulator": emulator_role, "submitter": submitter_role, "webworker": webworker_role,
         "batchworker": batchworker_role}


# --- The parent -----------------------------------------------------------------------------


class Child:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, role: str, cfg: dict[str, Any]) -> Child:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--role", role, "--config", json.dumps(cfg),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        return cls(proc)

    async def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"a child exited early ({await self.proc.wait()})")
        return dict(json.loads(line))

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")

    async def wait(self) -> None:
        await self.proc.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_redis() -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--loglevel", "warning"],
                            stdout=subprocess.DEVNULL)
    for _ in range(2000):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.01)
    sys.exit("redis-server did not start")


async def budget_run(args: argparse.Namespace, redis_url: str, *, shared: bool) -> str:
    emulator = await Child.start("emulator", {"scale": 600.0, "rps": args.rps})
    url = (await emulator.read())["url"]
    prefix = f"bench-budget-{shared}-{time.time_ns()}"
    cfg = {"url": url, "redis": redis_url, "prefix": prefix, "shared": shared, "rps": args.rps,
           "submits": args.submits}
    workers = [await Child.start("submitter", {**cfg, "index": i})
               for i in range(args.processes)]
    for worker in workers:
        await worker.read()  # ready: client open, coordination connected
    for worker in workers:
        worker.send("go")
    results = [await worker.read() for worker in workers]
    emulator.send("figures")
    ledger = await emulator.read()
    emulator.send("stop")
    for child in [*workers, emulator]:
        await child.wait()
    ok = sum(r["ok"] for r in results)
    requests = sum(r["requests"] for r in results)
    rejected = sum(r["429"] for r in results)
    window = max(r["ended"] for r in results) - min(r["started"] for r in results)
    goodput = ok / window
    label = f"shared Redis budget {args.rps:g}/s" if shared else f"each rate_limit={args.rps:g}"
    return (f"| {label:<26} | {ok:5d}/{args.processes * args.submits:<5d} | {requests:8d} | "
            f"{rejected:5d} ({100 * rejected / max(1, requests):5.1f}%) | {window:6.1f} s | "
            f"{goodput:5.1f}/s ({100 * goodput / args.rps:5.1f}%) | "
            f"{ledger['billed']:6d} | {ledger['duplicates']:4d} |")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)] if ordered else math.nan


async def fanout_run(
    args: argparse.Namespace, redis_url: str, *, shared: bool, rate: float | None
) -> str:
    emulator = await Child.start(
        "emulator", {"scale": FANOUT_SCALE, "job_seconds": FANOUT_JOB_SECONDS}
    )
    url = (await emulator.read())["url"]
    per_worker = args.jobs // args.processes
    cfg = {"url": url, "redis": redis_url, "prefix": f"bench-fanout-{time.time_ns()}",
           "shared": shared, "jobs": per_worker, "rate": rate, "processes": args.processes}
    workers = [await Child.start("webworker", {**cfg, "index": i})
               for i in range(args.processes)]
    urls = [f"http://127.0.0.1:{(await w.read())['port']}/cb" for w in workers]
    for worker in workers:
        worker.send(json.dumps(urls))
    done = [await worker.read() for worker in workers]
    for worker in workers:
        worker.send("stop")
    arrivals: dict[str, float] = {}
    for worker in workers:
        arrivals.update((await worker.read())["arrivals"])
    emulator.send("figures")
    ledger = await emulator.read()
    emulator.send("stop")
    for child in [*workers, emulator]:
        await child.wait()
    resolved = {job: at for d in done for job, at in d["resolved"].items() if at is not None}
    jobs = per_worker * args.processes
    lags = [1000 * (at - arrivals[job]) for job, at in resolved.items() if job in arrivals]
    label = ("Redis fan-out" if shared else "no coordination") + (
        f", {rate:g} jobs/s" if rate else ", all at once")
    return (f"| {label:<30} | {len(resolved):5d}/{jobs:<5d} | {len(arrivals):5d} | "
            f"{percentile(lags, 0.5):7.1f} | {percentile(lags, 0.99):7.1f} | "
            f"{max(lags, default=math.nan):7.1f} | {ledger['job_gets'] / jobs:5.2f} |")


async def batch_run(args: argparse.Namespace, redis_url: str, *, same_name: bool) -> str:
    from phota_async import RedisJournal
    from phota_async.batch import Stage, distributed

    emulator = await Child.start("emulator", {"scale": BATCH_SCALE,
                                              "job_seconds": BATCH_JOB_SECONDS})
    url = (await emulator.read())["url"]
    batch_id = f"bench-{time.time_ns()}"
    out = tempfile.mkdtemp(prefix="phota-bench-batch-")
    cfg = {"url": url, "redis": redis_url, "batch_id": batch_id, "items": args.items, "out": out}
    journal = RedisJournal.from_url(redis_url, batch_id)

    async def saved(at_least: int = 0) -> int:
        while True:
            count = sum(r.stage is Stage.SAVED for r in (await journal.records()).values())
            if count >= at_least:
                return count
            await asyncio.sleep(0.02)

    try:
        started = time.monotonic()
        await distributed.enqueue(batch_id, batch_work(args.items), redis_url)
        workers = [await Child.start("batchworker", {**cfg, "name": f"worker-{i}"})
                   for i in range(args.workers)]
        at_kill = await saved(at_least=args.items // 3)
        workers[0].proc.kill()  # SIGKILL
        await workers[0].wait()
        held = await journal.held_by("worker-0")
        records = await journal.records()
        sent = sum(key in records for key in held)
        name = "worker-0" if same_name else "worker-0-new"
        workers[0] = await Child.start("batchworker", {**cfg, "name": name})
        for worker in workers:
            await worker.wait()
        wall = time.monotonic() - started
        done = await saved()
    finally:
        await journal.aclose()
        shutil.rmtree(out, ignore_errors=True)
    emulator.send("figures")
    ledger = await emulator.read()
    emulator.send("stop")
    await emulator.wait()
    label = "restarted as worker-0" if same_name else "restarted as a new worker"
    return (f"| {label:<26} | {done:4d}/{args.items:<4d} | {ledger['billed']:6d} | "
            f"{ledger['duplicates']:4d} | {ledger['submits'] - ledger['billed']:7d} | "
            f"{at_kill:4d} | {len(held):4d} ({sent:2d})  | {wall:6.1f} s |")


async def budget_section(args: argparse.Namespace, redis_url: str) -> None:
    print(f"\n{args.processes} processes x {args.submits} submits, emulator limited to "
          f"{args.rps:g} req/s (burst {math.ceil(args.rps)}, Retry-After 1)\n")
    print("| run                        | accepted    | requests | 429s           | wall"
          "     | goodput vs limit  | billed | dups |")
    print("|---|---|---|---|---|---|---|---|")
    for shared in (False, True):
        print(await budget_run(args, redis_url, shared=shared), flush=True)


async def fanout_section(args: argparse.Namespace, redis_url: str) -> None:
    print(f"\n{args.processes} aiohttp workers, {args.jobs} jobs ({FANOUT_JOB_SECONDS:g} s "
          f"at x{FANOUT_SCALE:g}), each callback sent to a random worker\n")
    print("| run                            | resolved    | callbacks | p50 ms  | p99 ms  |"
          " max ms  | GETs/job |")
    print("|---|---|---|---|---|---|---|")
    for shared, rate in ((False, args.submit_rate), (True, args.submit_rate), (True, None)):
        print(await fanout_run(args, redis_url, shared=shared, rate=rate), flush=True)
    print("\ncallback-to-resolved: a callback's arrival in any worker to the job's resolution"
          " in the worker awaiting it (negative: polling resolved it first).")


async def batch_section(args: argparse.Namespace, redis_url: str) -> None:
    print(f"\nA distributed batch: {args.items} generate tasks over {args.workers} arq "
          f"workers ({BATCH_MAX_JOBS} items each at once, job_timeout {BATCH_JOB_TIMEOUT:g} s), "
          "one SIGKILLed once a third are saved, then started again\n")
    print("| run                        | done      | billed | dups | resends | kill | "
          "held (sent) | wall     |")
    print("|---|---|---|---|---|---|---|---|")
    for same_name in (True, False):
        print(await batch_run(args, redis_url, same_name=same_name), flush=True)
    print("\nbilled, dups: image jobs charged, and charged more than once for one "
          "client_request_id (the emulator's ledger); resends: submits sent again after the "
          "kill and answered with the original job; kill: items saved when it came; held "
          "(sent): items the killed worker held mid-run (of them, with a paid request "
          "journaled as sent or about to be).")


SECTIONS = {"budget": budget_section, "fanout": fanout_section, "batch": batch_section}


async def main(args: argparse.Namespace) -> None:
    redis, redis_url = start_redis()
    try:
        for name, section in SECTIONS.items():
            if args.only in (None, name):
                await section(args, redis_url)
    finally:
        redis.terminate()
        redis.wait()


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--submits", type=int, default=500, help="per process")
    parser.add_argument("--rps", type=float, default=20.0)
    parser.add_argument("--jobs", type=int, default=1000, help="in all")
    parser.add_argument("--submit-rate", type=float, default=100.0,
                        help="jobs submitted per second, all workers together")
    parser.add_argument("--items", type=int, default=200, help="of the distributed batch")
    parser.add_argument("--workers", type=int, default=3, help="of the distributed batch")
    parser.add_argument("--only", choices=("budget", "fanout", "batch"))
    parser.add_argument("--role", choices=sorted(ROLES), help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        asyncio.run(ROLES[args.role](json.loads(args.config)))
    else:
        asyncio.run(main(args))


if __name__ == "__main__":
    cli()
