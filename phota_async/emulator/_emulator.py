"""`PhotaEmulator`: the local Phota server, its controls for tests, and its records."""

from __future__ import annotations

import asyncio
import os
import types
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web
from aiohttp.log import access_logger

from ._api_storage import BUCKET_PREFIX, put_object
from ._callbacks import CallbackDelivery, CallbackPolicy
from ._clock import ScaledClock
from ._context import Context, Settings
from ._dialect import Dialect
from ._faults import DropWhen, Fault, FaultHandle, RateLimit, TokenBucket, as_latency, as_statuses
from ._fields import IMAGE_KINDS
from ._ledger import Charge, Ledger
from ._recording import API_PREFIX, RecordedRequest, select
from ._server import build_app
from ._state import JobRecord, JobSeconds, ProfileRecord

# Emulated seconds per image job (phota-api.md section 8; enhance and remix are guesses).
DEFAULT_JOB_SECONDS: Mapping[str, float] = {
    "generate": 55.0,
    "edit": 48.0,
    "enhance": 30.0,
    "remix": 30.0,
}
# How long close() lets requests in flight finish before cutting them (real seconds).
_SHUTDOWN_SECONDS = 0.25


class PhotaEmulator:
    """A local Phota API server in scaled time, with fault injection and a billing ledger.

    Use `async with PhotaEmulator() as emu:` (or `await emu.start()` / `await emu.close()`), then
    point the SDK at `emu.url` with `emu.api_key`. Durations are emulated seconds, run
    `time_scale` times faster than real ones; `record_requests=False` keeps long benchmarks from
    holding every request body in memory. `ledger_path` appends every charge and refund to a file
    as one JSON line, flushed at once. `refresh_expired_urls` makes `GET /jobs/{id}` sign a
    finished job's expired download URLs again (the default keeps the first ones, which answer
    403 `URL_EXPIRED` once 24 emulated hours have passed, or after `expire_download_urls()`).
    Time is the clock of the loop it runs on; `job_seconds` may give a callable per endpoint
    that draws each job's duration from its request. `plain_outputs` makes every output one
    small plain picture instead of a drawn one (a millisecond of CPU each): for load tests where
    ten thousand jobs finish at once.
    """

    def __init__(
        self,
        *,
        api_keys: Sequence[str] = ("emu-test-key",),
        host: str = "127.0.0.1",
        port: int = 0,
        time_scale: float = 600.0,
        image_job_seconds: float | None = None,
        job_seconds: Mapping[str, JobSeconds] | None = None,
        training_seconds: float = 1200.0,
        credit: float | None = None,
        webhook_secret: str = "whsec-emulator",
        dialect: Dialect | None = None,
        callbacks: CallbackPolicy | None = None,
        seed: int = 0,
        fetch_timeout: float = 5.0,
        record_requests: bool = True,
        access_log: bool = False,
        ledger_path: str | os.PathLike[str] | None = None,
        refresh_expired_urls: bool = False,
        plain_outputs: bool = False,
    ) -> None:
        if not api_keys:
            raise ValueError("api_keys must hold at least one key")
        settings = Settings(
            api_keys=tuple(api_keys),
            webhook_secret=webhook_secret,
            dialect=dialect or Dialect(),
            callbacks=callbacks or CallbackPolicy(),
            job_seconds=_job_seconds(image_job_seconds, job_seconds),
            training_seconds=training_seconds,
            fetch_timeout=fetch_timeout,
            record_requests=record_requests,
            refresh_expired_urls=refresh_expired_urls,
            plain_outputs=plain_outputs,
        )
        self._ctx = Context.build(settings, ScaledClock(time_scale), Ledger(credit), seed)
        self._host = host
        self._port = port
        self._access_log = access_log
        self._ledger_path = ledger_path
        self._runner: web.AppRunner | None = None
        self._origin: str | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> PhotaEmulator:
        self._open_ledger()
        self._ctx.clock.bind(asyncio.get_running_loop())  # emulated time runs on this loop's clock
        runner = web.AppRunner(
            build_app(self._ctx),
            shutdown_timeout=_SHUTDOWN_SECONDS,
            access_log=access_logger if self._access_log else None,
        )
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        await site.start()
        self._runner = runner
        self._origin = f"http://{_url_host(self._host)}:{runner.addresses[0][1]}"
        return self

    def _open_ledger(self) -> None:
        # A few bytes per charge, flushed at once: not worth a worker thread.
        if self._ledger_path is not None and self._ctx.ledger.sink is None:
            self._ctx.ledger.sink = open(self._ledger_path, "a", encoding="utf-8")  # noqa: SIM115

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self._ctx.tasks.aclose()
        await self._ctx.outbound.close()
        if self._ctx.ledger.sink is not None:
            self._ctx.ledger.sink.close()
            self._ctx.ledger.sink = None

    async def __aenter__(self) -> PhotaEmulator:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- where to reach it -----------------------------------------------------------------------

    @property
    def origin(self) -> str:
        if self._origin is None:
            raise RuntimeError("the emulator is not running: use `async with` or `await start()`")
        return self._origin

    @property
    def url(self) -> str:
        """The SDK's base_url."""
        return self.origin + API_PREFIX

    @property
    def bucket_url(self) -> str:
        return self.origin + BUCKET_PREFIX

    @property
    def api_key(self) -> str:
        return self._ctx.settings.api_keys[0]

    @property
    def webhook_secret(self) -> str:
        return self._ctx.settings.webhook_secret

    @property
    def dialect(self) -> Dialect:
        return self._ctx.dialect

    def now(self) -> float:
        """Emulated seconds since the emulator was created."""
        return self._ctx.clock.now()

    # -- records ---------------------------------------------------------------------------------

    @property
    def ledger(self) -> list[Charge]:
        return self._ctx.ledger.charges

    @property
    def total_billed(self) -> float:
        """Net of refunds."""
        return self._ctx.ledger.total

    @property
    def credit_left(self) -> float | None:
        return self._ctx.ledger.remaining

    def add_credit(self, dollars: float) -> None:
        """Top the account up by ``dollars`` (an account with unlimited credit stays so)."""
        ledger = self._ctx.ledger
        if ledger.credit is not None:
            ledger.credit += dollars

    @property
    def requests(self) -> list[RecordedRequest]:
        return self._ctx.requests

    def api_requests(
        self, path_glob: str = "*", method: str | None = None
    ) -> list[RecordedRequest]:
        """Recorded API requests whose path relative to /v1/phota matches the glob."""
        return select(self._ctx.requests, path_glob, method)

    @property
    def callback_deliveries(self) -> list[CallbackDelivery]:
        return self._ctx.callbacks.deliveries

    @property
    def jobs(self) -> Mapping[str, JobRecord]:
        return types.MappingProxyType(self._ctx.store.jobs)

    @property
    def profiles(self) -> Mapping[str, ProfileRecord]:
        return types.MappingProxyType(self._ctx.store.profiles)

    # -- faults ----------------------------------------------------------------------------------

    def inject(
        self,
        path: str = "*",
        *,
        method: str | None = None,
        status: int | Sequence[int] | None = None,
        retry_after: str | None = None,
        drop: DropWhen | None = None,
        latency: float | tuple[float, float] = 0.0,
        slow_body: float = 0.0,
        probability: float = 1.0,
        times: int | None = None,
    ) -> FaultHandle:
        """Misbehave on matching API requests; see `Fault` for the meaning of each effect."""
        fault = Fault(
            path=path,
            method=method,
            statuses=as_statuses(status),
            retry_after=retry_after,
            drop=drop,
            latency=as_latency(latency),
            slow_body=slow_body,
            probability=probability,
            times=times,
        )
        return self._ctx.faults.add(fault)

    def rate_limit(
        self,
        rps: float,
        burst: int = 1,
        retry_after: str | None = "1",
        paths: str | Sequence[str] = "*",
    ) -> None:
        """A token bucket on real time over the matching API paths: beyond it, 429.

        `retry_after`: a fixed header value, "date" (an HTTP date when a token is due) or None.
        """
        globs = (paths,) if isinstance(paths, str) else tuple(paths)
        self._ctx.faults.rate_limit = RateLimit(TokenBucket(rps, burst), retry_after, globs)

    def clear_faults(self) -> None:
        """Remove every injected fault and the rate limit."""
        self._ctx.faults.clear()

    # -- steering jobs and profiles --------------------------------------------------------------

    def set_job_status(self, job_id: str, status: str, *, error: Any = None) -> None:
        """Send `status` verbatim (and `error`, if given) until the job's next own transition."""
        job = self._ctx.store.jobs[job_id]
        job.forced_status = status
        job.forced_error = error

    def fail_job(self, job_id: str, reason: str) -> None:
        """Make a pending job fail now (refunded; its callback is sent)."""
        self._ctx.jobs.fail(self._ctx.store.jobs[job_id], reason)

    def expire_download_urls(self) -> int:
        """Make every download URL handed out so far expired now; how many there were."""
        return self._ctx.files.expire_all(self._ctx.clock.now())

    def deactivate_profile(self, profile_id: str) -> None:
        self._ctx.training.stop(self._ctx.store.profiles[profile_id], "INACTIVE")

    def put_object(self, data: bytes, content_type: str, name: str | None = None) -> str:
        """Store an object in the bucket; its public URL (needs no API key)."""
        return put_object(self._ctx, self.origin, data, content_type, name)


def _job_seconds(
    image_job_seconds: float | None, job_seconds: Mapping[str, JobSeconds] | None
) -> Mapping[str, JobSeconds]:
    """Per-endpoint defaults, then one duration for all (if given), then per-endpoint overrides."""
    seconds: dict[str, JobSeconds] = dict(DEFAULT_JOB_SECONDS)
    if image_job_seconds is not None:
        seconds = dict.fromkeys(IMAGE_KINDS, image_job_seconds)
    unknown = set(job_seconds or {}) - set(IMAGE_KINDS)
    if unknown:
        raise ValueError(f"job_seconds keys must be among {IMAGE_KINDS}: {sorted(unknown)}")
    seconds.update(job_seconds or {})
    return types.MappingProxyType(seconds)


def _url_host(host: str) -> str:
    """A host to put in URLs: a wildcard bind is reached through loopback; IPv6 needs brackets."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host
