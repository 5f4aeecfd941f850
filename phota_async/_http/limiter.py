"""An adaptive limit on requests in flight (AIMD), with an optional requests-per-second budget.

The limit starts at the user's ceiling, halves when the server pushes back (429 or 503) and grows
back by one per success, like TCP's congestion window or aiobotocore's adaptive mode. A push-back
that says how long to wait (``Retry-After``) also holds every new request until then: the server
spoke about the account, not about the one request that heard it.

With a coordination (``AsyncPhota(coordination=...)``), every attempt also takes a place in the
budget shared by all processes, and a push-back's pause is shared with them; this limiter stays
in front of that.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from .. import _clock as clock
from .._coord.base import Member

__all__ = ["AdaptiveLimiter"]


class AdaptiveLimiter:
    """Caps concurrent requests under ``ceiling``; ``rate`` (if set) caps requests per second."""

    def __init__(
        self,
        ceiling: int,
        *,
        rate: float | None = None,
        adaptive: bool = True,
        shared: Member | None = None,
    ) -> None:
        if ceiling < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.ceiling = ceiling
        self.adaptive = adaptive
        self._limiter = anyio.CapacityLimiter(ceiling)
        self._rate = rate
        self._next_slot = 0.0
        self._resume_at = 0.0
        self._shared = shared
        self.pushbacks = 0

    @property
    def limit(self) -> int:
        """The current limit (between 1 and the ceiling)."""
        return int(self._limiter.total_tokens)

    @property
    def in_flight(self) -> int:
        """Requests holding a slot now."""
        return self._limiter.borrowed_tokens

    @asynccontextmanager
    async def slot(self, timeout: float | None = None) -> AsyncIterator[None]:
        """Hold one slot for the duration of one request attempt.

        Waiting for it (and for the rate budget) raises ``TimeoutError`` after ``timeout``
        seconds: that wait is part of a call's deadline.
        """
        token = object()
        acquired = False
        deadline = None if timeout is None else clock.now() + timeout
        try:
            with anyio.fail_after(timeout):
                await self._limiter.acquire_on_behalf_of(token)
                acquired = True
                await self._pace()
                if self._shared is not None:
                    await self._shared.turn(deadline)
            yield
        finally:
            if acquired:
                self._limiter.release_on_behalf_of(token)

    async def _pace(self) -> None:
        pause = self._resume_at - clock.now()
        if pause > 0:
            await anyio.sleep(pause)
        if not self._rate:
            return
        # Reserve the next free slot on the schedule, then sleep until it comes.
        interval = 1.0 / self._rate
        now = clock.now()
        slot = max(now, self._next_slot)
        self._next_slot = slot + interval
        if slot <= now:
            return
        try:
            await anyio.sleep(slot - now)
        except BaseException:
            # Gave up waiting (a deadline, a cancel): hand the place back to those behind.
            self._next_slot = max(clock.now(), self._next_slot - interval)
            raise

    def on_pushback(self, retry_after: float | None = None) -> None:
        """The server said slow down (429/503): halve the limit, and send nothing new for
        ``retry_after`` seconds if it said how long."""
        self.pushbacks += 1
        if not self.adaptive:
            return
        self._limiter.total_tokens = max(1, self.limit // 2)
        if retry_after:
            self._resume_at = max(self._resume_at, clock.now() + retry_after)
            if self._shared is not None:
                self._shared.pause(retry_after)

    def on_success(self) -> None:
        """A request went through: grow the limit back by one, up to the ceiling."""
        if self.adaptive and self.limit < self.ceiling:
            self._limiter.total_tokens = self.limit + 1
