"""What every case shares: the emulator process, loop lag, CPU and wall clocks, medians, checks."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import aiohttp

KEY = "bench-key"
ROOT = Path(__file__).resolve().parent.parent


# --- The emulator in its own process ------------------------------------------------------------


class Emulator:
    """A running ``benchmarks._server`` process: its URL, and the server-side figures."""

    def __init__(self, process: asyncio.subprocess.Process, url: str) -> None:
        self.process = process
        self.url = url

    async def stats(self) -> dict[str, Any]:
        """Billed jobs, duplicate charges and requests, as the server counted them."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(b"stats\n")
        await self.process.stdin.drain()
        figures: dict[str, Any] = json.loads(await self.process.stdout.readline())
        return figures


@asynccontextmanager
async def emulator(**options: Any) -> AsyncIterator[Emulator]:
    """The emulator on loopback in a separate process (its CPU is not the client's)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks._server", json.dumps({"api_key": KEY, **options}),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT,
    )
    assert process.stdout is not None and process.stdin is not None
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode().strip()
        if not line.startswith("READY "):
            raise RuntimeError(f"the emulator did not start: {line!r}")
        yield Emulator(process, line.split(" ", 1)[1])
    finally:
        if process.returncode is None:
            process.stdin.write(b"quit\n")
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                process.kill()
                await process.wait()


async def warm_up(session: aiohttp.ClientSession, url: str, connections: int) -> None:
    """Open ``connections`` kept-alive connections, so that no case pays for connecting."""
    async def one() -> None:
        async with session.get(f"{url}/profiles/ids", headers={"X-API-Key": KEY}) as resp:
            await resp.read()

    await asyncio.gather(*(one() for _ in range(connections)))


# --- Clocks -----------------------------------------------------------------------------------


class Clocks:
    """CPU time of this process, wall time, gen-0 GC passes and the CPU time the cyclic GC took
    (all generations) over a ``with`` block."""

    cpu = wall = gc_cpu = 0.0
    gc0 = 0

    @contextmanager
    def measure(self) -> Iterator[Clocks]:
        started: list[float] = []

        def on_gc(phase: str, _: dict[str, Any]) -> None:
            if phase == "start":
                started.append(time.process_time())
            elif started:
                self.gc_cpu += time.process_time() - started.pop()

        gc_before = gc.get_stats()[0]["collections"]
        gc.callbacks.append(on_gc)
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            yield self
        finally:
            self.cpu = time.process_time() - cpu
            self.wall = time.perf_counter() - wall
            gc.callbacks.remove(on_gc)
            self.gc0 = gc.get_stats()[0]["collections"] - gc_before


class LoopLag:
    """A 1 ms ticker task: how late each tick ran is how long the loop was blocked.

    ``lags`` are wall-clock lateness, what a user sees; on a shared machine they include the
    time the OS gave other processes. ``cpu_lags`` count only this thread's own CPU time spent
    while the tick waited (``time.thread_time()``): the part of the lateness that the program's
    own work caused, whatever the machine's load.
    """

    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval
        self.lags: list[float] = []
        self.cpu_lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            due, cpu = time.perf_counter() + self.interval, time.thread_time()
            await asyncio.sleep(self.interval)
            self.lags.append(max(0.0, time.perf_counter() - due))
            self.cpu_lags.append(max(0.0, time.thread_time() - cpu - self.interval))

    def __enter__(self) -> LoopLag:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()

    def p99_ms(self) -> float:
        return percentile(self.lags, 99) * 1000

    def max_ms(self) -> float:
        return max(self.lags, default=0.0) * 1000

    def cpu_p99_ms(self) -> float:
        return percentile(self.cpu_lags, 99) * 1000


def rss_mb() -> float:
    """Resident memory of this process, in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: Iterable[float], pct: float) -> float:
    """The nearest-rank percentile (0 for no values)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


async def in_flight(count: int, width: int, work: Callable[[int], Awaitable[Any]]) -> list[Any]:
    """``work(i)`` for i in range(count), ``width`` at a time (a fixed pool of workers)."""
    results: list[Any] = [None] * count
    indexes = iter(range(count))

    async def worker() -> None:
        for index in indexes:
            results[index] = await work(index)

    await asyncio.gather(*(worker() for _ in range(min(width, count))))
    return results


# --- Results ----------------------------------------------------------------------------------


def check(metric: str, value: float, op: str, limit: float) -> dict[str, Any]:
    """One target: ``value op limit`` (op is one of <=, <, >=, ==)."""
    ok = {"<=": value <= limit, "<": value < limit, ">=": value >= limit, "==": value == limit}
    return {"metric": metric, "value": round(value, 4), "target": f"{op} {limit:g}",
            "ok": bool(ok[op])}


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """A plain aligned table (numbers right-aligned)."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print(f"\n{title}")
    print("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                           for i, (c, w) in enumerate(zip(columns, widths, strict=True))))
    for row in cells:
        print("  " + "  ".join(v.ljust(w) if i == 0 else v.rjust(w)
                               for i, (v, w) in enumerate(zip(row, widths, strict=True))))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()
