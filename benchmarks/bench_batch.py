"""What the batch journal costs: journal writes per second, and a batch of image jobs run through
``Batch`` (journaled, saved) against the same jobs run by hand (submit, as_completed, save).

    .venv/bin/python benchmarks/bench_batch.py [--jobs 400] [--writes 3000]

Both runs use a fresh in-process emulator whose jobs take 6 emulated seconds at x600 (10 ms),
so the figures are the client's own work: requests, polls, downloads, files, and for the batch
its journal (four commits per item: intent, job id, result URLs, saved paths). Baseline: the
hand-written loop in the same process, without a journal.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from pathlib import Path

from phota_async import AsyncPhota, Batch, ImageTask, PollConfig, as_completed
from phota_async.batch import ItemRecord, SqliteJournal, Stage
from phota_async.emulator import PhotaEmulator

SCALE = 600.0


async def journal_writes(count: int, folder: Path) -> float:
    """Commits per second of the SQLite journal (each one in a worker thread)."""
    journal = SqliteJournal(folder / "bench.sqlite")
    await journal.open()
    started = time.perf_counter()
    for index in range(count):
        await journal.write(ItemRecord(f"item-{index}", "image", Stage.SENDING, 9,
                                       client_request_id=f"pb.bench.{index:032d}",
                                       sent_at=time.time()))
    elapsed = time.perf_counter() - started
    await journal.aclose()
    return count / elapsed


def client(emu: PhotaEmulator) -> AsyncPhota:
    return AsyncPhota(api_key=emu.api_key, base_url=emu.url, poll=PollConfig(time_scale=SCALE))


async def by_hand(jobs: int, out: Path) -> tuple[float, int]:
    async with PhotaEmulator(time_scale=SCALE, image_job_seconds=6.0) as emu:
        started = time.perf_counter()
        async with client(emu) as phota:
            submitted = await asyncio.gather(*(phota.generate(f"cat {i}") for i in range(jobs)))
            async for job in as_completed(submitted):
                await (await job).save(out, stem=f"cat-{job.id}")
        return time.perf_counter() - started, len(emu.ledger)


async def batched(jobs: int, out: Path) -> tuple[float, int]:
    tasks = [ImageTask.generate(f"cat-{i}", f"cat {i}") for i in range(jobs)]
    async with PhotaEmulator(time_scale=SCALE, image_job_seconds=6.0) as emu:
        started = time.perf_counter()
        async with client(emu) as phota, Batch(phota, batch_id="bench", out=out,
                                                 concurrency=16) as batch:
            async for result in batch.run(tasks):
                assert result.ok, result
        return time.perf_counter() - started, len(emu.ledger)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--writes", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        rate = await journal_writes(args.writes, folder)
        hand, hand_charges = await by_hand(args.jobs, folder / "hand")
        batch, batch_charges = await batched(args.jobs, folder / "batch")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"journal commits per second (SQLite WAL, one writer)   {rate:8.0f}")
    print(f"{args.jobs} jobs by hand (submit, as_completed, save)      {hand:6.2f} s  "
          f"{args.jobs / hand:6.0f} jobs/s  charges {hand_charges}")
    print(f"{args.jobs} jobs through Batch (journaled, saved)          {batch:6.2f} s  "
          f"{args.jobs / batch:6.0f} jobs/s  charges {batch_charges}  "
          f"ratio {batch / hand:4.2f}x")
    print(f"peak RSS of the process                               {rss:6.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
