"""One poll scheduler per client: a heap of next-due times and a fixed pool of poll workers.

Ten thousand pending jobs are ten thousand heap entries, not ten thousand sleeping tasks: the
number of tasks is ``1 + workers`` whatever the number of jobs. A job is polled only while someone
waits on it (``await job``, ``job.updates()``); when the last waiter leaves, its entry is dropped
the next time it comes due.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import Callable
from typing import Protocol

from .._exceptions import PhotaError

log = logging.getLogger("phota_async")

# Pop at most this many due entries before letting other tasks run: a burst of thousands of due
# jobs must not hold the loop.
_BATCH = 256


class Pollable(Protocol):
    """What the scheduler needs of a job."""

    def wants_polling(self) -> bool:
        """True while someone waits on the job and it is not finished."""

    async def poll_once(self) -> float | None:
        """Poll the server once; the delay (seconds) until the next poll, or None when done."""


class PollScheduler:
    """Polls every scheduled job at its own due time, ``workers`` requests at a time at most."""

    def __init__(self, *, workers: int, bind_loop: Callable[[], None] | None = None) -> None:
        self._workers = workers
        # The client's loop check (Transport.bind_loop): waiting from another loop must fail
        # at once, not sit on tasks of a loop that is gone.
        self._bind_loop = bind_loop
        self._heap: list[tuple[float, int, Pollable]] = []
        self._due: dict[Pollable, float] = {}
        self._busy: set[Pollable] = set()
        self._again: set[Pollable] = set()
        self._seq = itertools.count()
        self._wakeup: asyncio.Event | None = None
        self._ready: asyncio.Queue[Pollable] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self.polls = 0

    @property
    def pending(self) -> int:
        """Jobs scheduled or being polled now."""
        return len(self._due) + len(self._busy)

    @property
    def task_count(self) -> int:
        """Tasks the scheduler runs (constant: one timer and the workers)."""
        return sum(1 for t in self._tasks if not t.done())

    def schedule(self, job: Pollable, delay: float) -> None:
        """Poll ``job`` after ``delay`` seconds (sooner if it is already due sooner)."""
        self._start()
        if job in self._busy:
            if delay <= 0:
                self._again.add(job)  # poll once more as soon as the current poll ends
            return
        due = time.monotonic() + max(0.0, delay)
        current = self._due.get(job)
        if current is not None and current <= due:
            return
        self._due[job] = due
        heapq.heappush(self._heap, (due, next(self._seq), job))
        if self._heap[0][2] is job:
            assert self._wakeup is not None
            self._wakeup.set()

    def poll_now(self, job: Pollable) -> None:
        """Make ``job`` due now (a webhook said it finished)."""
        self.schedule(job, 0.0)

    def _start(self) -> None:
        if self._closed:
            raise PhotaError(
                "this client is closed: re-attach the job on an open client "
                "(phota.jobs.from_token(job.to_token()))"
            )
        if self._bind_loop is not None:
            self._bind_loop()
        if self._tasks and not self._tasks[0].done():
            return
        self._wakeup = asyncio.Event()
        self._ready = asyncio.Queue()
        self._tasks = [asyncio.create_task(self._timer(), name="phota-poll-timer")]
        self._tasks += [
            asyncio.create_task(self._worker(), name=f"phota-poll-worker-{i}")
            for i in range(self._workers)
        ]

    async def aclose(self) -> None:
        """Stop polling; jobs keep their state and can be awaited on another client."""
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self._heap.clear()
        self._due.clear()

    async def _timer(self) -> None:
        assert self._wakeup is not None and self._ready is not None
        while True:
            popped = 0
            now = time.monotonic()
            while self._heap and self._heap[0][0] <= now and popped < _BATCH:
                due, _, job = heapq.heappop(self._heap)
                popped += 1
                if self._due.get(job) != due:
                    continue  # a stale entry: the job was rescheduled sooner
                del self._due[job]
                if job.wants_polling():
                    self._busy.add(job)
                    self._ready.put_nowait(job)
            if popped >= _BATCH:
                await asyncio.sleep(0)
                continue
            self._wakeup.clear()
            delay = self._heap[0][0] - now if self._heap else None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wakeup.wait()

    async def _worker(self) -> None:
        assert self._ready is not None
        while True:
            job = await self._ready.get()
            try:
                self.polls += 1
                delay = await job.poll_once()
            except Exception:  # a bug in one job must not stop the others' polling
                log.exception("polling a job failed unexpectedly")
                delay = None
            finally:
                self._busy.discard(job)
            if job in self._again:
                self._again.discard(job)
                delay = 0.0 if delay is not None else None
            if delay is not None and job.wants_polling():
                self.schedule(job, delay)
