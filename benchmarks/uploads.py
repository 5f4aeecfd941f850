"""uploads: profile photos of 24 MP checked, prepared and uploaded, with the loop kept free.

The photos (6000x4000 JPEGs, noise over colour fields so that their sizes are realistic) are
made once and kept in the temporary folder. ``prepare_photos`` checks and readies them (decode,
orientation, long side <= 4096 px, re-encode) in worker threads; ``upload_photos`` puts them
into the emulator's bucket (its own process), 8 at a time. A 1 ms ticker measures how late the
event loop runs meanwhile. Baseline, same run: raw aiohttp PUTting the same prepared bytes, 8
at a time. Rounds alternate baseline and SDK; medians are reported.
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
import uuid
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from PIL import Image

from phota_async import EmulatorBucketUploader
from phota_async._photos.checks import default_photo_workers, prepare_photos
from phota_async._photos.examine import PreparedPhoto
from phota_async._photos.upload import upload_photos

from ._common import LoopLag, check, emulator, median, print_table

T = TypeVar("T")
SIZE = (6000, 4000)
CONCURRENCY = 8
FOLDER = Path(tempfile.gettempdir()) / "phota-bench-24mp"


def make_photo(path: Path, seed: int) -> None:
    """A 24 MP JPEG: a random colour field (distinct per seed) under grain, like a real photo."""
    rng = random.Random(seed)
    field = Image.new("RGB", (8, 6))
    field.putdata([tuple(rng.randrange(256) for _ in range(3)) for _ in range(48)])
    base = field.resize(SIZE, Image.Resampling.BICUBIC)
    grain = Image.effect_noise(SIZE, 48).convert("RGB")
    Image.blend(base, grain, 0.22).save(path, "JPEG", quality=90)


def ensure_photos(count: int) -> list[Path]:
    FOLDER.mkdir(parents=True, exist_ok=True)
    paths = [FOLDER / f"photo-{i:02d}.jpg" for i in range(count)]
    missing = [(p, i) for i, p in enumerate(paths) if not p.exists()]
    if missing:
        print(f"  (making {len(missing)} photos of {SIZE[0]}x{SIZE[1]} in {FOLDER}, once)",
              flush=True)
        with ThreadPoolExecutor(os.cpu_count()) as pool:
            list(pool.map(lambda item: make_photo(*item), missing))
    return paths


async def raw_puts(bucket_url: str, photos: list[PreparedPhoto]) -> None:
    limit = asyncio.Semaphore(CONCURRENCY)
    async with aiohttp.ClientSession() as session:
        async def put(photo: PreparedPhoto) -> None:
            name = f"{uuid.uuid4().hex[:16]}-{photo.filename}"  # a new object, as the SDK's
            async with limit, session.put(f"{bucket_url}/{name}", data=photo.data,
                                          headers={"Content-Type": photo.content_type}) as resp:
                await resp.read()
                resp.raise_for_status()

        await asyncio.gather(*(put(p) for p in photos))


async def sdk_puts(bucket_url: str, photos: list[PreparedPhoto]) -> None:
    async with EmulatorBucketUploader(bucket_url) as uploader:
        await upload_photos(photos, uploader, concurrency=CONCURRENCY)


class Timed:
    """Wall time, this process's CPU time and the loop's lag over one awaited step."""

    def __init__(self) -> None:
        self.lag = LoopLag()
        self.wall = self.cpu = 0.0

    async def run(self, work: Awaitable[T]) -> T:
        with self.lag:
            wall, cpu = time.perf_counter(), time.process_time()
            result = await work
            self.wall, self.cpu = time.perf_counter() - wall, time.process_time() - cpu
        return result


def pooled(runs: list[Timed]) -> LoopLag:
    """The ticks of every round together (one round is too short for a p99 of its own)."""
    every = LoopLag()
    every.lags = [lag for run in runs for lag in run.lag.lags]
    every.cpu_lags = [lag for run in runs for lag in run.lag.cpu_lags]
    return every


async def run(quick: bool) -> dict[str, Any]:
    count, rounds = (10, 5) if quick else (50, 7)  # an upload round is short: many rounds
    paths = ensure_photos(count)
    megabytes = sum(p.stat().st_size for p in paths) / 1e6
    workers = default_photo_workers()
    preparing = Timed()
    _, prepared = await preparing.run(prepare_photos(paths, "standard", max_workers=workers))
    sent = sum(len(p.data) for p in prepared) / 1e6
    raw: list[Timed] = []
    sdk: list[Timed] = []
    for index in range(rounds):
        # A fresh emulator each round, so that its bucket does not grow by gigabytes; the
        # order alternates, so that neither always runs against a warmer server.
        async with emulator() as emu:
            bucket = emu.url.replace("/v1/phota", "/bucket")
            steps = [(raw, raw_puts), (sdk, sdk_puts)]
            for runs, work in steps if index % 2 == 0 else steps[::-1]:
                runs.append(Timed())
                await runs[-1].run(work(bucket, prepared))
    raw_lag, sdk_lag = pooled(raw), pooled(sdk)
    metrics = {
        "photos": count, "megabytes": megabytes, "uploaded_megabytes": sent, "workers": workers,
        "prepare_s": preparing.wall, "prepare_lag_p99_ms": preparing.lag.p99_ms(),
        "prepare_cpu_lag_p99_ms": preparing.lag.cpu_p99_ms(),
        "prepare_lag_max_ms": preparing.lag.max_ms(),
        "raw_upload_s": median(r.wall for r in raw), "sdk_upload_s": median(r.wall for r in sdk),
        "raw_upload_cpu_s": median(r.cpu for r in raw),
        "sdk_upload_cpu_s": median(r.cpu for r in sdk),
        "raw_upload_lag_p99_ms": raw_lag.p99_ms(), "sdk_upload_lag_p99_ms": sdk_lag.p99_ms(),
        "upload_wall_ratio": median(s.wall / r.wall for s, r in zip(sdk, raw, strict=True)),
        "upload_cpu_ratio": median(s.cpu / r.cpu for s, r in zip(sdk, raw, strict=True)),
    }
    print_table(
        f"uploads: {count} photos of {SIZE[0]}x{SIZE[1]} ({megabytes:.0f} MB of JPEG, "
        f"{sent:.0f} MB once prepared), {workers} worker threads, {CONCURRENCY} uploads at a "
        f"time; {rounds} rounds (median times, lag over all ticks)",
        ["step", "seconds", "CPU s", "lag p99 ms", "own-CPU lag p99 ms", "lag max ms"],
        [["prepare_photos (check + prepare)", preparing.wall, preparing.cpu,
          preparing.lag.p99_ms(), preparing.lag.cpu_p99_ms(), preparing.lag.max_ms()],
         ["raw aiohttp PUTs of the prepared bytes", metrics["raw_upload_s"],
          metrics["raw_upload_cpu_s"], raw_lag.p99_ms(), raw_lag.cpu_p99_ms(), raw_lag.max_ms()],
         ["upload_photos to the emulator bucket", metrics["sdk_upload_s"],
          metrics["sdk_upload_cpu_s"], sdk_lag.p99_ms(), sdk_lag.cpu_p99_ms(), sdk_lag.max_ms()]],
    )
    print(f"  upload_photos / raw: wall {metrics['upload_wall_ratio']:.2f}x, "
          f"CPU {metrics['upload_cpu_ratio']:.2f}x (medians of the rounds' ratios)")
    lag_p99 = max(metrics["prepare_lag_p99_ms"], metrics["sdk_upload_lag_p99_ms"])
    return {"metrics": metrics, "checks": [
        check("loop lag p99 ms (prepare, upload)", lag_p99, "<", 20),
        check("upload wall ratio", metrics["upload_wall_ratio"], "<=", 1.3),
    ]}
