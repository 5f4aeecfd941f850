"""Coordination between processes through Redis (``redis.asyncio``, the ``redis`` extra).

- The budget is a GCRA schedule in one Lua script, atomic on the server and timed by the
  server's clock (``TIME``), so processes on machines with skewed clocks still agree. A request
  reserves the next free place and sleeps until it; a place past the caller's deadline is not
  taken. The same script honours the shared pause that a 429's ``Retry-After`` sets. Without a
  shared budget a request costs no Redis round trip: the pause is also published, and each
  process holds its own requests when it hears it.
- Webhook fan-out is Redis pub/sub: the worker that verified a callback publishes the job's id;
  every process subscribed makes that job due now (one confirming GET each, where it is held).
  A missed message costs nothing but latency: polling stays the authority.
- When Redis is lost, requests go on under the local limiter and a local copy of the budget;
  Redis is tried again every ``COORD_RETRY_INTERVAL`` and used again as soon as it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import secrets
from collections.abc import Callable, Coroutine
from typing import Any, Literal
from urllib.parse import urlsplit

from .. import _clock as clock
from .. import _constants as C
from .._exceptions import CoordinationError, InvalidInputError
from .._wire import validation as check
from .base import DueListener, Gcra, Listeners, burst_for, check_rate, wait_reserved

__all__ = ["RedisCoordination", "check_redis_url", "display_redis_url"]

log = logging.getLogger("phota_async")

_SCHEMES = ("redis", "rediss", "unix")
_MAX_MESSAGE = 512  # an instance id, a colon and a job id; anything longer is not ours

# KEYS: the schedule's key, the pause's key. ARGV: interval (us), burst, max wait (us; -1: none).
# Returns {1, wait_us} with a place reserved, or {0, wait_us} with nothing taken.
_TURN = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local start = math.max(now, tonumber(redis.call('GET', KEYS[2]) or '0'))
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), start)
local allowed = math.max(start, tat - (tonumber(ARGV[2]) - 1) * interval)
local max_wait = tonumber(ARGV[3])
if max_wait >= 0 and allowed - now > max_wait then
  return {0, allowed - now}
end
if interval > 0 then
  local ttl = math.ceil((tat + interval - now) / 1000) + 1000
  redis.call('SET', KEYS[1], string.format('%.0f', tat + interval), 'PX', ttl)
end
return {1, allowed - now}
"""

# KEYS: the pause's key, the pause channel. ARGV: the pause (us), this process's id. Extends the
# pause (never shortens it) and tells the processes that keep no shared budget.
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local resume = now + tonumber(ARGV[1])
if resume > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], string.format('%.0f', resume), 'PX', math.ceil(ARGV[1] / 1000) + 1)
  redis.call('PUBLISH', KEYS[2], ARGV[2] .. ':' .. ARGV[1])
end
return 1
"""
_MAX_PAUSE_US = 3600 * 1_000_000


def display_redis_url(url: str) -> str:
    """``url`` with its password hidden: the only form that may go into a message."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<an unparsable Redis URL>"
    user = ""
    if parts.username or parts.password:
        user = (parts.username or "") + (":***" if parts.password else "") + "@"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def check_redis_url(url: object) -> str:
    """``url`` if it is a Redis URL, else InvalidInputError (the password hidden)."""
    allowed = "a redis://, rediss:// or unix:// URL"
    if not isinstance(url, str) or not url:
        raise InvalidInputError("url", "must be a URL string", allowed=allowed)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise InvalidInputError(
            "url", f"{display_redis_url(url)} is not a valid URL", allowed=allowed
        ) from None
    if parts.scheme not in _SCHEMES:
        raise InvalidInputError(
            "url", f"{display_redis_url(url)} is not a Redis URL", allowed=allowed
        )
    return url


def _redis_errors() -> tuple[type[BaseException], ...]:
    errors = importlib.import_module("redis.exceptions")
    return (errors.RedisError, OSError, TimeoutError)


class RedisCoordination:
    """Shares the account's rate budget, 429 pauses and webhook callbacks through Redis.

    Give every process the same ``url``, ``prefix`` and ``rate_limit`` (the account's requests
    per second, shared by all; None: no shared budget, pauses and callbacks are still shared;
    ``burst`` requests may go at once). ``if_unavailable="local"`` starts without Redis when it
    cannot be reached (the local limiter alone, Redis tried again every second) instead of
    raising :class:`CoordinationError`. Needs the extra: ``pip install 'phota-async[redis]'``.
    """

    # Without a shared budget, turn() only waits out a pause it already holds locally.
    turn_free_without_budget = True

    def __init__(
        self,
        url: str,
        *,
        rate_limit: float | None = None,
        burst: int | None = None,
        prefix: str = C.COORD_PREFIX,
        if_unavailable: Literal["raise", "local"] = "raise",
        timeout: float = C.COORD_REDIS_TIMEOUT,
        retry_interval: float = C.COORD_RETRY_INTERVAL,
    ) -> None:
        self._url = check_redis_url(url)
        if if_unavailable not in ("raise", "local"):
            raise InvalidInputError(
                "if_unavailable", f"{if_unavailable!r} is not allowed", allowed="'raise', 'local'"
            )
        if not isinstance(prefix, str) or not prefix or len(prefix) > 100:
            raise InvalidInputError("prefix", f"{prefix!r} is not allowed",
                                    allowed="a string of 1..100 characters")
        rate = check_rate(rate_limit)
        self.rate_limit = rate
        self.burst = 1 if rate is None else burst_for(rate, burst)
        self.display_url = display_redis_url(url)
        self._if_unavailable = if_unavailable
        self._timeout = timeout
        self._retry_interval = retry_interval
        self._interval_us = 0 if rate is None else round(1e6 / rate)
        self._keys = [f"{prefix}:budget:tat", f"{prefix}:budget:pause"]
        self._channel = f"{prefix}:due"
        self._pause_channel = f"{prefix}:pause"
        self._instance = secrets.token_hex(6)
        self._local = Gcra(rate, self.burst)  # the budget while Redis is lost
        self._listeners = Listeners()
        self._users = 0
        self._lock: asyncio.Lock | None = None
        self._redis: Any = None
        self._subscriber: Any = None
        self._turn_script: Any = None
        self._pause_script: Any = None
        self._errors: tuple[type[BaseException], ...] = ()
        self._healthy = False
        self._retry_at = 0.0
        self._reader: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._subscribed = False

    def __repr__(self) -> str:
        return (f"RedisCoordination({self.display_url!r}, rate_limit={self.rate_limit!r}, "
                f"burst={self.burst})")

    @property
    def healthy(self) -> bool:
        """False while Redis is unusable and requests go on under the local limiter alone."""
        return self._healthy

    @property
    def subscribed(self) -> bool:
        """True while this process receives the callbacks other processes verified."""
        return self._subscribed

    @property
    def pause_left(self) -> float:
        """Seconds this process still holds new requests for a shared 429 pause, as last heard
        (0 when not paused)."""
        return self._local.pause_left()

    # --- Lifetime ------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (once for all the clients using it); see ``if_unavailable``."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._users == 0:
                await self._connect()
            self._users += 1

    async def _connect(self) -> None:
        try:
            aioredis = importlib.import_module("redis.asyncio")
            retry = importlib.import_module("redis.asyncio.retry")
            backoff = importlib.import_module("redis.backoff")
        except ImportError:
            raise CoordinationError(
                "RedisCoordination needs the redis extra: pip install 'phota-async[redis]'"
            ) from None
        self._errors = _redis_errors()
        options: dict[str, Any] = {
            "socket_connect_timeout": self._timeout,
            # A connection a restarted server dropped is replaced once, at once.
            "retry": retry.Retry(backoff.NoBackoff(), 1),
            "retry_on_error": [importlib.import_module("redis.exceptions").ConnectionError],
        }
        try:
            self._redis = aioredis.Redis.from_url(self._url, socket_timeout=self._timeout,
                                                  **options)
            # The subscriber blocks on reads for as long as no callback comes.
            self._subscriber = aioredis.Redis.from_url(self._url, socket_timeout=None, **options)
        except ValueError as exc:
            raise CoordinationError(f"cannot use Redis at {self.display_url}: {exc}") from None
        self._turn_script = self._redis.register_script(_TURN)
        self._pause_script = self._redis.register_script(_PAUSE)
        try:
            await self._redis.ping()
        except self._errors as exc:
            if self._if_unavailable == "raise":
                await self._disconnect()
                raise CoordinationError(
                    f"cannot use Redis at {self.display_url}: {self._reason(exc)}"
                ) from None
            self._lost(exc)
        else:
            self._healthy = True
            await self._join_pause()
        self._reader = asyncio.create_task(self._read_due(), name="phota-coord-due")

    async def _join_pause(self) -> None:
        """A process starting during a pause holds its requests too."""
        with contextlib.suppress(*self._errors):
            left_ms = await self._redis.pttl(self._keys[1])
            if isinstance(left_ms, int) and left_ms > 0:
                self._local.pause(left_ms / 1000)

    async def aclose(self) -> None:
        """One client is done; the last one disconnects."""
        if self._lock is None:
            return
        async with self._lock:
            if self._users == 0:
                return
            self._users -= 1
            if self._users == 0:
                await self._disconnect()

    async def _disconnect(self) -> None:
        tasks = [*self._tasks, *([self._reader] if self._reader else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self._reader = None
        for client in (self._redis, self._subscriber):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()
        self._redis = self._subscriber = None
        self._healthy = self._subscribed = False

    # --- Health --------------------------------------------------------------------------

    def _usable(self) -> bool:
        if self._redis is None:
            return False
        return self._healthy or clock.now() >= self._retry_at

    def _lost(self, exc: BaseException) -> None:
        if self._healthy or self._retry_at == 0.0:
            log.warning(
                "Redis at %s is unusable (%s): requests go on under the local limiter and "
                "callbacks reach only this process; trying again every %ss",
                self.display_url, self._reason(exc), self._retry_interval,
            )
        self._healthy = False
        self._retry_at = clock.now() + self._retry_interval

    def _back(self) -> None:
        if not self._healthy:
            log.warning("Redis at %s is usable again", self.display_url)
            self._healthy = True

    def _reason(self, exc: BaseException) -> str:
        """One line about ``exc`` that never holds the password."""
        text = " ".join(str(exc).split()) or type(exc).__name__
        password = urlsplit(self._url).password
        return text.replace(password, "***") if password else text

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- The budget and the pause --------------------------------------------------------

    async def turn(self, deadline: float | None) -> None:
        """Wait out the shared pause and take a place in the shared budget (see the module)."""
        if self.rate_limit is not None and self._usable():
            left = -1 if deadline is None else max(0, round((deadline - clock.now()) * 1e6))
            try:
                granted, wait_us = await self._turn_script(
                    keys=self._keys, args=[self._interval_us, self.burst, left]
                )
            except self._errors as exc:
                self._lost(exc)
            else:
                self._back()
                if not granted:
                    raise TimeoutError("no place in the shared rate budget before the deadline")
                if wait_us > 0:
                    await asyncio.sleep(wait_us / 1e6)
                return
        await wait_reserved(self._local, deadline)

    def pause(self, seconds: float) -> None:
        """Hold every process's new requests for ``seconds`` (here at once, elsewhere soon)."""
        if seconds <= 0:
            return
        self._local.pause(seconds)
        if self._usable():
            self._spawn(self._share_pause(seconds))

    async def _share_pause(self, seconds: float) -> None:
        try:
            await self._pause_script(keys=[self._keys[1], self._pause_channel],
                                     args=[round(seconds * 1e6), self._instance])
        except self._errors as exc:
            self._lost(exc)

    # --- Webhook fan-out -----------------------------------------------------------------

    def subscribe(self, listener: DueListener) -> Callable[[], None]:
        """Listen for jobs any process announced due."""
        return self._listeners.subscribe(listener)

    async def announce_due(self, job_id: str, *, source: DueListener | None = None) -> None:
        """Tell this process's other listeners, then every other process, that ``job_id`` is
        due. Only the id is published; a lost Redis only means the others poll."""
        self._listeners.deliver(job_id, source=source)
        if not self._usable():
            return
        try:
            await self._redis.publish(self._channel, f"{self._instance}:{job_id}")
        except self._errors as exc:
            self._lost(exc)
        else:
            self._back()

    async def _read_due(self) -> None:
        delay = C.COORD_RECONNECT_INITIAL
        while True:
            pubsub = self._subscriber.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel, self._pause_channel)
                self._subscribed = True
                self._back()
                delay = C.COORD_RECONNECT_INITIAL
                async for message in pubsub.listen():
                    self._on_message(message)
            except self._errors as exc:
                self._lost(exc)
            finally:
                self._subscribed = False
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, C.COORD_RECONNECT_MAX)

    def _on_message(self, message: object) -> None:
        """An announcement from Redis is input: only a well-formed job id (or pause) from
        another process is acted on (a GET the server answers), anything else is dropped."""
        if not isinstance(message, dict):
            return
        data, channel = message.get("data"), message.get("channel")
        if not isinstance(data, bytes) or len(data) > _MAX_MESSAGE:
            return
        sender, _, text = data.decode("utf-8", "replace").partition(":")
        if sender == self._instance:
            return  # delivered or applied here already, before publishing
        if channel == self._pause_channel.encode():
            if text.isdigit() and 0 < int(text) <= _MAX_PAUSE_US:
                self._local.pause(int(text) / 1e6)
            return
        job_id = text
        try:
            check.resource_id(job_id, "job_id")
        except InvalidInputError:
            log.debug("dropped a malformed announcement on %s", self._channel)
            return
        self._listeners.deliver(job_id)
