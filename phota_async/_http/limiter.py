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

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from .. import _clock as clock
from .._coord.base import Member

__all__ = ["AdaptiveLimiter"]


class AdaptiveLimiter:
    """Caps concurrent requests under ``ceiling``; ``rate`` (if set) caps requests per second.

    Every request takes a slot: a free one at once, with no await (the hot path of every API
    call); otherwise it queues first-come first-served behind the others.
    """

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
        self._limit = ceiling
        self._in_flight = 0
        # Waiters in arrival order; release() hands a freed slot to the first one.
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._rate = rate
        self._next_slot = 0.0
        self._resume_at = 0.0
        self._shared = shared
        self.pushbacks = 0

    @property
    def limit(self) -> int:
        """The current limit (between 1 and the ceiling)."""
        return self._limit

    @property
    def in_flight(self) -> int:
        """Requests holding a slot now."""
        return self._in_flight

    async def acquire(self, timeout: float | None = None) -> None:
        """Take one slot for one request attempt; :meth:`release` it when the attempt ends.

        Waiting for it (and for the rate budget or a server's pause) raises ``TimeoutError``
        after ``timeout`` seconds: that wait is part of a call's deadline.
        """
        if (self._in_flight < self._limit and not self._waiters and not self._rate
                and self._resume_at <= clock.now()
                and (self._shared is None or self._shared.is_free())):
            self._in_flight += 1  # a free slot and nothing to wait for: no await, no timer
            return
        deadline = None if timeout is None else clock.now() + timeout
        async with asyncio.timeout(timeout):
            await self._queue()
            try:
                await self._pace()
                if self._shared is not None:
                    await self._shared.turn(deadline)  # the budget and pause of all processes
            except BaseException:
                self.release()
                raise

    def release(self) -> None:
        """Give back a slot taken by :meth:`acquire`."""
        self._in_flight -= 1
        self._wake()

    @asynccontextmanager
    async def slot(self, timeout: float | None = None) -> AsyncIterator[None]:
        """Hold one slot for the duration of the block (:meth:`acquire`, then :meth:`release`)."""
        await self.acquire(timeout)
        try:
            yield
        finally:
            self.release()

    async def _queue(self) -> None:
        if self._in_flight < self._limit and not self._waiters:
            self._in_flight += 1
            return
        turn = asyncio.get_running_loop().create_future()
        self._waiters.append(turn)
        try:
            await turn
        except BaseException:
            if turn.done() and not turn.cancelled():
                self.release()  # handed a slot just as we gave up: pass it on
            elif turn in self._waiters:
                self._waiters.remove(turn)
            raise

    def _wake(self) -> None:
        """Hand free slots to the waiters at the head of the queue (the slot is theirs now)."""
        while self._waiters and self._in_flight < self._limit:
            turn = self._waiters.popleft()
            if not turn.done():
                self._in_flight += 1
                turn.set_result(None)

    async def _pace(self) -> None:
        pause = self._resume_at - clock.now()
        if pause > 0:
            await asyncio.sleep(pause)
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
            await asyncio.sleep(slot - now)
        except BaseException:
            # Gave up waiting (a deadline, a cancel): hand the place back to those behind.
            self._next_slot = max(clock.now(), self._next_slot - interval)
            raise
        # A busy loop wakes us late: the next request still keeps a full interval after ours.
        self._next_slot = max(self._next_slot, clock.now() + interval)

    def on_pushback(self, retry_after: float | None = None) -> None:
        """The server said slow down (429/503): halve the limit, and send nothing new for
        ``retry_after`` seconds if it said how long."""
        self.pushbacks += 1
        if not self.adaptive:
            return
        self._limit = max(1, self._limit // 2)
        if retry_after:
            self._resume_at = max(self._resume_at, clock.now() + retry_after)
            if self._shared is not None:
                self._shared.pause(retry_after)

    def on_success(self) -> None:
        """A request went through: grow the limit back by one, up to the ceiling."""
        if self.adaptive and self._limit < self.ceiling:
            self._limit += 1
            self._wake()
