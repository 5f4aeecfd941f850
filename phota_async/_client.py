"""``AsyncPhota``: the client. It wires the layers together and owns their lifetimes."""

from __future__ import annotations

import hashlib
import math
import os
import random
import warnings
from collections.abc import Iterable
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from . import _constants as C
from ._coord.base import Coordination, InProcessCoordination, Member
from ._exceptions import InvalidInputError, MissingAPIKeyError
from ._http.events import EventHook
from ._http.limiter import AdaptiveLimiter
from ._http.requester import Requester
from ._http.retry import RetryPolicy
from ._http.transport import Transport
from ._jobs.cadence import PollConfig
from ._jobs.context import ClientContext
from ._jobs.downloads import DownloadSettings
from ._jobs.scheduler import PollScheduler
from ._photos.uploaders import EmulatorBucketUploader, Uploader
from ._wire.validation import is_loopback
from .resources.images import Studio
from .resources.jobs import Jobs
from .resources.profiles import Profiles
from .resources.webhooks import Webhooks

__all__ = ["AsyncPhota"]


class AsyncPhota:
    """An asynchronous client of the Phota API.

    ``api_key`` defaults to ``$PHOTA_API_KEY``; ``base_url`` to ``$PHOTA_BASE_URL``, then the
    public API. ``max_concurrency`` caps requests in flight (it shrinks on 429/503 and grows
    back); ``rate_limit`` optionally caps requests per second (set it to your account's limit
    for big batches). ``timeout`` bounds each call, all its retries included;
    ``connect_timeout`` and ``read_timeout`` bound one attempt's connection and each read (a
    synchronous image call reads for up to 660 s). ``uploader`` stores local profile photos
    where the API can fetch them (against a local emulator its bucket is used by default).
    ``poll`` tunes job polling (:class:`PollConfig`; against a loopback address,
    ``$PHOTA_TIME_SCALE`` sets its time scale, as ``phota emulator`` prints). ``on_event``
    receives a :class:`RequestEvent` per request start, end and retry. ``coordination`` shares
    the account's rate budget, 429 pauses and webhook callbacks with other clients and
    processes (``RedisCoordination(url)``; by default nothing is shared beyond this client).

    Result files (``result.save()``/``read()``) are fetched over https only (plain http only
    from the API's own origin or, for a local API, loopback), ``download_concurrency`` at a
    time, each at most ``max_download_bytes``. ``download_hosts``, when given, lists the only
    hosts they may come from (besides the API's own origin): set it on servers that must not be
    steered to internal addresses.

    Each attempt of a call ends after ``attempt_timeout`` seconds (default 120; a synchronous
    image call gets its 660 s read budget on top; ``None`` for no limit), so an answer that
    drips a byte at a time cannot hold a call forever. Answers are bounded before they fill
    memory: ``max_response_bytes`` (default 4 MiB) for JSON, ``max_image_response_bytes``
    (default 256 MiB) for answers that may carry images inline (synchronous
    ``response_mode="bytes"`` calls, finished jobs, profile pictures), and ``max_json_depth``
    (default 64) nested levels; past a limit a call raises :class:`APIResponseError`.

    Use it as ``async with AsyncPhota() as phota:`` or call :meth:`aclose` when done.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        max_concurrency: int = C.DEFAULT_MAX_CONCURRENCY,
        *,
        uploader: Uploader | None = None,
        timeout: float | None = None,
        connect_timeout: float = C.DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = C.DEFAULT_READ_TIMEOUT,
        retry: RetryPolicy | None = None,
        rate_limit: float | None = None,
        poll: PollConfig | None = None,
        on_event: EventHook | None = None,
        download_concurrency: int = C.DEFAULT_DOWNLOAD_CONCURRENCY,
        download_hosts: Iterable[str] | None = None,
        max_download_bytes: int = C.MAX_DOWNLOAD_BYTES,
        attempt_timeout: float | None = C.DEFAULT_ATTEMPT_TIMEOUT,
        max_response_bytes: int = C.MAX_RESPONSE_BYTES,
        max_image_response_bytes: int = C.MAX_IMAGE_RESPONSE_BYTES,
        max_json_depth: int = C.MAX_JSON_DEPTH,
        seed: int | None = None,
        coordination: Coordination | None = None,
    ) -> None:
        # Only ever named ``api_key``: reporters that record frame locals (Sentry) scrub that
        # name by default.
        api_key = api_key if api_key is not None else os.environ.get(C.API_KEY_ENV)
        if not api_key:
            raise MissingAPIKeyError(
                f"no API key: pass AsyncPhota(api_key=...) or set {C.API_KEY_ENV}"
            )
        url = base_url or os.environ.get(C.BASE_URL_ENV) or C.DEFAULT_BASE_URL
        self._transport = Transport(
            api_key=api_key, base_url=url, connect_timeout=connect_timeout,
            read_timeout=read_timeout, attempt_timeout=attempt_timeout,
            max_response_bytes=max_response_bytes,
            max_image_response_bytes=max_image_response_bytes, max_json_depth=max_json_depth,
        )
        self._coord = Member(coordination or InProcessCoordination())
        self._limiter = AdaptiveLimiter(max_concurrency, rate=rate_limit, shared=self._coord)
        self._fingerprint = hashlib.sha256(  # no local holds the key with the URL
            f"phota-account\0{self._transport.base_url}\0{api_key}".encode()).hexdigest()[:32]
        self._requester = Requester(
            self._transport, limiter=self._limiter, policy=retry or RetryPolicy(),
            timeout=timeout, hook=on_event, rng=random.Random(seed),
        )
        poll = poll or PollConfig(time_scale=_time_scale_from_env(self._transport.base_url))
        self._ctx = ClientContext(
            requester=self._requester,
            scheduler=PollScheduler(
                workers=max_concurrency, max_per_second=poll.max_polls_per_second,
                bind_loop=self._transport.bind_loop,
            ),
            poll=poll,
            downloads=DownloadSettings.build(
                concurrency=download_concurrency, hosts=download_hosts,
                max_bytes=max_download_bytes, timeout=timeout,
            ),
            rng=random.Random(seed),
        )
        self._uploader = uploader
        self._own_uploader: EmulatorBucketUploader | None = None
        self.profiles = Profiles(self._ctx, self._uploader_for_profiles)
        self.jobs = Jobs(self._ctx)
        self.webhooks = Webhooks(self._ctx, self._coord)
        self.studio = Studio(self._ctx)
        self.generate = self.studio.generate
        self.edit = self.studio.edit
        self.enhance = self.studio.enhance
        self.remix = self.studio.remix

    def __repr__(self) -> str:
        return f"AsyncPhota(base_url={self._transport.base_url!r})"

    @property
    def base_url(self) -> str:
        """The API's base URL (ends with a slash)."""
        return self._transport.base_url

    @property
    def account_fingerprint(self) -> str:
        """A hash of the base URL and the API key: tells accounts apart (a batch journal keeps
        it to refuse another account's work) without revealing the key."""
        return self._fingerprint

    @property
    def limiter(self) -> AdaptiveLimiter:
        """The adaptive limit on requests in flight (read ``.limit``, ``.in_flight``)."""
        return self._limiter

    @property
    def coordination(self) -> Coordination:
        """What this client shares with other processes (see ``coordination=``)."""
        return self._coord.coordination

    @property
    def poll(self) -> PollConfig:
        """The poll cadence settings in use."""
        return self._ctx.poll

    @property
    def scheduler(self) -> PollScheduler:
        """The shared poll scheduler (read ``.pending``, ``.polls``, ``.task_count``)."""
        return self._ctx.scheduler

    def cadence_state(self) -> dict[str, Any]:
        """What this client learned of job durations, as a small JSON-able document
        (``{"version": 1, "durations": {"generate/nb2/4K": {"median": 61.2, "sigma": 0.3,
        "count": 40}, ...}}``, server seconds). Store it and pass it back as
        ``PollConfig(learned=...)``: a restarted batch then polls well from its first job."""
        return self._ctx.cadence.state()

    def load_cadence_state(self, document: dict[str, Any]) -> None:
        """Start from what an earlier run learned (a :meth:`cadence_state` document), for the
        kinds of work this client has not seen yet; ``InvalidInputError`` if it is not one."""
        self._ctx.cadence.load(document)

    def reset_credit_breaker(self) -> None:
        """Allow submits again after a 402 stopped them (top up the credit first)."""
        self._requester.reset_credit_breaker()

    def _uploader_for_profiles(self) -> Uploader | None:
        if self._uploader is not None:
            return self._uploader
        parts = urlsplit(self._transport.base_url)
        if not is_loopback(parts.hostname or ""):
            return None
        # Against a local emulator, its bucket hosts the photos.
        if self._own_uploader is None:
            self._own_uploader = EmulatorBucketUploader(f"{parts.scheme}://{parts.netloc}/bucket")
        return self._own_uploader

    async def aclose(self) -> None:
        """Stop polling and close the HTTP session. Job handles keep their state; whoever still
        awaits a job gets :class:`ClientClosedError`, which says how to re-attach it."""
        await self._ctx.scheduler.aclose()
        await self.webhooks.aclose()
        await self._coord.aclose()
        if self._own_uploader is not None:
            await self._own_uploader.aclose()
        await self._transport.aclose()

    async def __aenter__(self) -> AsyncPhota:
        # Connect the coordination now, so that a Redis that cannot be used fails here and
        # callbacks other processes verify reach this one before its first request.
        await self._coord.ensure_started()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self, _warn: Any = warnings.warn) -> None:
        transport = getattr(self, "_transport", None)
        if transport is not None and transport.opened_session and not transport.closed:
            _warn(
                f"{self!r} was not closed: use 'async with AsyncPhota()' or 'await aclose()'",
                ResourceWarning,
                stacklevel=2,
            )


def _time_scale_from_env(base_url: str) -> float:
    """``$PHOTA_TIME_SCALE`` (an emulator's time scale), honoured only against a loopback
    address: a stray variable must never make a client poll the real API 600 times too fast."""
    text = os.environ.get(C.TIME_SCALE_ENV)
    if not text:
        return 1.0
    try:
        scale = float(text)
    except ValueError:
        scale = math.nan
    if not (math.isfinite(scale) and scale > 0):
        raise InvalidInputError(C.TIME_SCALE_ENV, f"must be a number > 0, not {text!r}")
    if not is_loopback(urlsplit(base_url).hostname or ""):
        warnings.warn(
            f"{C.TIME_SCALE_ENV}={text} ignored: it is for an emulator on a loopback address",
            stacklevel=3,
        )
        return 1.0
    return scale
