"""Profile photos at scale: prepare 50 photos of 24 MP, then upload them to the emulator's bucket
and to S3 (moto's server), while a 1 ms ticker measures how late the event loop runs.

    .venv/bin/python benchmarks/bench_photos.py [--count 50] [--workers N] [--concurrency 8]

The photos (6000x4000 JPEG, noise over colour fields, so their sizes are realistic) are made once
and kept in ``--dir``. The emulator and moto run as separate processes, so that their work is not
counted as the SDK's loop lag. Each figure is printed beside a baseline from the same run: an idle
loop for the lag, raw aiohttp / aiobotocore doing the same uploads for the upload times.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import anyio
from PIL import Image

from phota_async._photos.checks import default_photo_workers, prepare_photos
from phota_async._photos.examine import PreparedPhoto
from phota_async._photos.s3 import S3Uploader
from phota_async._photos.upload import upload_photos
from phota_async._photos.uploaders import EmulatorBucketUploader

T = TypeVar("T")
SIZE = (6000, 4000)
CREDENTIALS: dict[str, Any] = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench",
                               "region_name": "us-east-1"}


# --- Photos ---------------------------------------------------------------------------------------


def make_photo(path: Path, seed: int) -> None:
    """A 24 MP JPEG: a random colour field (distinct per seed) under grain, like a real photo."""
    rng = random.Random(seed)
    field = Image.new("RGB", (8, 6))
    field.putdata([tuple(rng.randrange(256) for _ in range(3)) for _ in range(48)])
    base = field.resize(SIZE, Image.Resampling.BICUBIC)
    grain = Image.effect_noise(SIZE, 48).convert("RGB")
    Image.blend(base, grain, 0.22).save(path, "JPEG", quality=90)


def ensure_photos(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"photo-{i:02d}.jpg" for i in range(count)]
    missing = [(p, i) for i, p in enumerate(paths) if not p.exists()]
    if missing:
        print(f"making {len(missing)} photos of {SIZE[0]}x{SIZE[1]} in {folder} (once)...",
              flush=True)
        with ThreadPoolExecutor(os.cpu_count()) as pool:
            list(pool.map(lambda item: make_photo(*item), missing))
    return paths


# --- Loop lag -------------------------------------------------------------------------------------


@asynccontextmanager
async def loop_lag(interval: float = 0.001) -> AsyncIterator[list[float]]:
    """Lateness (seconds) of each tick of a ``interval`` ticker while the body runs."""
    lags: list[float] = []

    async def ticker() -> None:
        while True:
            due = time.perf_counter() + interval
            await asyncio.sleep(interval)
            lags.append(max(0.0, time.perf_counter() - due))

    task = asyncio.create_task(ticker())
    try:
        yield lags
    finally:
        task.cancel()


def lag_figures(lags: list[float]) -> str:
    ms = sorted(x * 1000 for x in lags) or [0.0]
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"p50 {statistics.median(ms):6.2f} ms  p99 {p99:6.2f} ms  max {ms[-1]:6.2f} ms"


async def timed(work: Callable[[], Awaitable[T]]) -> tuple[T, float, list[float]]:
    async with loop_lag() as lags:
        started = time.perf_counter()
        result = await work()
        elapsed = time.perf_counter() - started
    return result, elapsed, lags


# --- Servers in their own processes ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server(command: list[str], port: int) -> Iterator[str]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"{command[0]} did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


# --- Baselines: the same uploads without the SDK --------------------------------------------------


async def raw_bucket_puts(bucket_url: str, photos: list[PreparedPhoto], concurrency: int) -> None:
    limit = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession() as session:
        async def put(photo: PreparedPhoto) -> None:
            async with limit, session.put(f"{bucket_url}/raw-{photo.filename}", data=photo.data,
                                          headers={"Content-Type": photo.content_type}) as resp:
                await resp.read()
                resp.raise_for_status()

        await asyncio.gather(*(put(p) for p in photos))


async def raw_s3_puts(endpoint: str, bucket: str, photos: list[PreparedPhoto],
                      concurrency: int) -> None:
    from aiobotocore.session import get_session  # type: ignore[import-untyped]

    limit = asyncio.Semaphore(concurrency)
    async with get_session().create_client("s3", endpoint_url=endpoint, **CREDENTIALS) as client:
        async def put(photo: PreparedPhoto) -> None:
            async with limit:
                key = f"raw/{photo.filename}"
                await client.put_object(Bucket=bucket, Key=key, Body=photo.data,
                                        ContentType=photo.content_type)
                await client.generate_presigned_url(
                    "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=7200)

        await asyncio.gather(*(put(p) for p in photos))


async def profiles_add(api_url: str, api_key: str, urls: list[str]) -> str:
    async with aiohttp.ClientSession() as session, session.post(
        f"{api_url}/profiles/add", headers={"X-API-Key": api_key},
        json={"image_urls": urls, "training_tier": "standard"},
    ) as resp:
        body: dict[str, Any] = await resp.json()
        return f"{resp.status} {body.get('profile_id') or body}"


# --- The run --------------------------------------------------------------------------------


def row(label: str, seconds: float, lags: list[float], baseline: float | None = None) -> None:
    ratio = f"  x{seconds / baseline:4.2f} of baseline" if baseline else ""
    print(f"{label:<34} {seconds:7.2f} s   loop lag {lag_figures(lags)}{ratio}", flush=True)


async def best_of(
    title: str,
    base_label: str, baseline: Callable[[], Awaitable[None]],
    label: str, work: Callable[[], Awaitable[list[str]]],
    rounds: int = 2,
) -> list[str]:
    """Baseline and SDK in turn, ``rounds`` times each; the best time of each is printed."""
    base_runs, runs = [], []
    for _ in range(rounds):
        base_runs.append(await timed(baseline))
        runs.append(await timed(work))
    _, base, base_lags = min(base_runs, key=lambda run: run[1])
    urls, took, lags = min(runs, key=lambda run: run[1])
    row(f"{title}, {base_label}", base, base_lags)
    row(f"{title}, {label}", took, lags, base)
    return urls


async def bench_uploads(prepared: list[PreparedPhoto], concurrency: int) -> None:
    megabytes = sum(len(p.data) for p in prepared) / 1e6
    print(f"\nuploading {len(prepared)} prepared photos ({megabytes:.0f} MB), "
          f"{concurrency} at a time")
    port = free_port()
    emulator = [sys.executable, "-m", "phota_async.emulator", "--port", str(port)]
    with server(emulator, port) as origin:
        bucket_url, api_url = f"{origin}/bucket", f"{origin}/v1/phota"
        async with EmulatorBucketUploader(bucket_url) as uploader:
            urls = await best_of(
                "  emulator bucket",
                "raw aiohttp", lambda: raw_bucket_puts(bucket_url, prepared, concurrency),
                "upload_photos", lambda: upload_photos(prepared, uploader,
                                                       concurrency=concurrency))
        answer, took, _ = await timed(lambda: profiles_add(api_url, "emu-test-key", urls))
        print(f"  profiles/add fetching them: {answer} in {took:.2f} s")

        moto_port = free_port()
        moto = [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1",
                "-p", str(moto_port)]
        with server(moto, moto_port) as endpoint:
            import boto3  # type: ignore[import-untyped]

            boto3.client("s3", endpoint_url=endpoint, **CREDENTIALS).create_bucket(Bucket="bench")
            async with S3Uploader("bench", endpoint_url=endpoint, **CREDENTIALS) as s3:
                urls = await best_of(
                    "  moto S3",
                    "raw aiobotocore",
                    lambda: raw_s3_puts(endpoint, "bench", prepared, concurrency),
                    "upload_photos + S3Uploader", lambda: upload_photos(prepared, s3,
                                                                        concurrency=concurrency))
            answer, took, _ = await timed(lambda: profiles_add(api_url, "emu-test-key", urls))
            print(f"  profiles/add fetching the presigned URLs: {answer} in {took:.2f} s")


async def main(args: argparse.Namespace) -> None:
    paths = ensure_photos(Path(args.dir), args.count)
    total_mb = sum(p.stat().st_size for p in paths) / 1e6
    workers = args.workers or default_photo_workers()
    print(f"{len(paths)} photos of {SIZE[0]}x{SIZE[1]} ({total_mb:.0f} MB of JPEG), "
          f"{os.cpu_count()} cores, {workers} worker threads")

    async with loop_lag() as idle:
        await asyncio.sleep(2)
    row("idle loop (baseline)", 2.0, idle)
    (report, prepared), took, lags = await timed(
        lambda: prepare_photos(paths, "standard", max_workers=workers))
    row("prepare_photos (check + prepare)", took, lags)
    sizes = {(p.width, p.height) for p in prepared}
    print(f"  {len(prepared)} prepared, sizes {sorted(sizes)}; report: "
          f"{report.summary().splitlines()[0]}")
    print(f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    await bench_uploads(prepared, args.concurrency)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "phota-bench-24mp"))
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=8)
    return parser.parse_args()


if __name__ == "__main__":
    anyio.run(main, parse_args())
