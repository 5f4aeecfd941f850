"""Command line: run the emulator until Ctrl-C.

Used by `phota emulator` and `python -m phota_async.emulator`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import signal

from ._callbacks import CallbackPolicy
from ._clock import TIME_SCALE_ENV
from ._emulator import DEFAULT_JOB_SECONDS, PhotaEmulator

DEFAULT_PORT = 8787
DEFAULT_KEY = "emu-test-key"
RANDOM_5XX = (500, 502, 503)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="phota emulator", description="Run a local Phota API emulator until Ctrl-C."
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1")
    add("--port", type=int, default=DEFAULT_PORT)
    add(
        "--time-scale",
        type=float,
        default=os.environ.get(TIME_SCALE_ENV, "600"),  # a string default goes through `type`
        help=f"emulated seconds per real second (default: ${TIME_SCALE_ENV}, else 600)",
    )
    add("--training-seconds", type=float, default=1200.0, help="emulated duration of a training")
    add(
        "--api-key",
        action="append",
        dest="api_keys",
        help=f"accepted key (repeatable; default {DEFAULT_KEY})",
    )
    add("--credit", type=float, default=None, help="prepaid dollars (default: unlimited)")
    add("--webhook-secret", default="whsec-emulator")
    add("--seed", type=int, default=0)
    add("--latency", type=float, default=0.0, help="real seconds added to every API answer")
    add(
        "--rate-limit",
        type=float,
        default=None,
        metavar="RPS",
        help="requests per second, then 429",
    )
    add("--burst", type=int, default=None, help="rate limit burst (default: RPS rounded up)")
    add("--fail-rate", type=float, default=0.0, metavar="P", help="answer 500/502/503 at random")
    add(
        "--drop-after-rate",
        type=float,
        default=0.0,
        metavar="P",
        help="process, then drop the connection without answering, at random",
    )
    add("--duplicate-callbacks", action="store_true")
    add("--callback-delay", type=float, default=0.0, help="real seconds before each callback")
    add("--drop-callbacks", action="store_true")
    add("--access-log", action="store_true")
    add("--ledger", metavar="FILE", default=None,
        help="append every charge and refund to FILE as a JSON line (flushed at once)")
    add("--refresh-expired-urls", action="store_true",
        help="GET /jobs/{id} signs expired download URLs again (SIGUSR1 expires them all now)")
    return parser


def build_emulator(args: argparse.Namespace) -> PhotaEmulator:
    """The emulator the arguments describe, faults included (not started)."""
    emulator = PhotaEmulator(
        api_keys=args.api_keys or (DEFAULT_KEY,),
        host=args.host,
        port=args.port,
        time_scale=args.time_scale,
        training_seconds=args.training_seconds,
        credit=args.credit,
        webhook_secret=args.webhook_secret,
        callbacks=CallbackPolicy(
            duplicate=args.duplicate_callbacks, delay=args.callback_delay, drop=args.drop_callbacks
        ),
        seed=args.seed,
        access_log=args.access_log,
        ledger_path=args.ledger,
        refresh_expired_urls=args.refresh_expired_urls,
    )
    if args.latency:
        emulator.inject("*", latency=args.latency)
    if args.fail_rate:
        emulator.inject("*", status=RANDOM_5XX, probability=args.fail_rate)
    if args.drop_after_rate:
        emulator.inject("*", drop="after", probability=args.drop_after_rate)
    if args.rate_limit:
        burst = args.burst or max(1, math.ceil(args.rate_limit))
        emulator.rate_limit(args.rate_limit, burst)
    return emulator


async def _serve(args: argparse.Namespace) -> None:
    async with build_emulator(args) as emulator:
        print(f"Phota emulator at {emulator.url}", flush=True)
        print(f"API key: {emulator.api_key}", flush=True)
        print(f"Bucket: {emulator.bucket_url}    (Ctrl-C to stop)", flush=True)
        print(client_setting(emulator.url, emulator.api_key, args.time_scale), flush=True)
        await _until_terminated(emulator)


def client_setting(url: str, api_key: str, time_scale: float) -> str:
    """What a client needs to poll this emulator at its pace: without the time scale, a client
    waits for the real API's durations while the emulator's jobs end `time_scale` times sooner."""
    scale = f"{time_scale:g}"
    job = DEFAULT_JOB_SECONDS["generate"]
    return (
        f"Time runs {scale}x: a {job:g} s generate job takes {job / time_scale:.3g} s. "
        "Point clients here at the same pace:\n"
        f"  export PHOTA_BASE_URL={url} PHOTA_API_KEY={api_key} {TIME_SCALE_ENV}={scale}\n"
        f"  (in code: AsyncPhota(base_url=..., api_key=..., poll=PollConfig(time_scale={scale})))"
    )


def _expire_urls(emulator: PhotaEmulator) -> None:
    print(f"expired {emulator.expire_download_urls()} download URL(s)", flush=True)


async def _until_terminated(emulator: PhotaEmulator) -> None:
    """Until SIGTERM (a process manager stopping us) or cancellation (Ctrl-C). SIGUSR1 expires
    every download URL handed out so far (to test clients that resume a day later)."""
    loop, stop = asyncio.get_running_loop(), asyncio.Event()
    handlers = {signal.SIGTERM: stop.set}
    if hasattr(signal, "SIGUSR1"):
        handlers[signal.SIGUSR1] = lambda: _expire_urls(emulator)
    with contextlib.suppress(NotImplementedError):  # Windows loops take no signal handlers
        for signum, handler in handlers.items():
            loop.add_signal_handler(signum, handler)
    try:
        await stop.wait()
    finally:
        with contextlib.suppress(NotImplementedError):
            for signum in handlers:
                loop.remove_signal_handler(signum)
