"""One poll scheduler per client: a heap of next-due times and a fixed pool of poll workers.

Ten thousand pending jobs are ten thousand heap entries, not ten thousand sleeping tasks: the
number of tasks is ``workers`` whatever the number of jobs, and one loop timer (a callback, not
a task) hands each job to a worker when it comes due. A job is polled only while someone
waits on it (``await job``, ``job.updates()``); when the last waiter leaves, its entry is dropped
the next time it comes due. With a poll budget (``max_per_second``), due jobs wait in a backlog
and each free poll goes to the job most likely to have finished; polls start at least
``1 / max_per_second`` apart. Every time is read from the event loop's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import Callable
from typing import Protocol

from .. import _clock as clock
from .._exceptions import ClientClosedError

log = logging.getLogger("phota_async")

# Pop at most this many due entries before letting other tasks run: a burst of thousands of due
# jobs must not hold the loop.
_BATCH = 256
# Under a budget, the backlog's order is refreshed this often (loop seconds): the chances that
# jobs have finished grow as they wait.
_RESCORE_EVERY = 1.0
# A job due within this of now is due: a loop clock that ticks in microseconds (a virtual one)
# must not leave the timer waking for a due time a hair ahead, again and again.
_TICK = 1e-6
# The heap is rebuilt without its stale entries once they outnumber the live ones by this much.
_STALE_SLACK = 1024


class Pollable(Protocol):
    """What the scheduler needs of a job."""

    def wants_polling(self) -> bool:
        """True while someone waits on the job and it is not finished."""

    async def poll_once(self) -> float | None:
        """Poll the server once; the delay (seconds) until the next poll, or None when done.
        It raises nothing but ``CancelledError``: every failure is a retry or the job's end."""

    def done_likelihood(self) -> float:
        """How likely the job is to have finished by now (orders a backlog under a budget)."""

    def fail(self, error: BaseException) -> None:
        """End the job with ``error`` (a poll failed in a way nobody foresaw)."""

    def dropped(self) -> None:
        """Nobody waits any more: the job left the scheduler."""

    def interrupt(self) -> None:
        """The client closed: wake every waiter with :class:`ClientClosedError`."""


class PollScheduler:
    """Polls every scheduled job at its own due time, ``workers`` requests at a time at most,
    and at most ``max_per_second`` polls per second when given."""

    def __init__(
        self, *, workers: int, max_per_second: float | None = None,
        bind_loop: Callable[[], None] | None = None,
    ) -> None:
        self._workers = workers
        # A tick over 1/rate: not even a closed one-second window may hold one poll too many.
        self._interval = 0.0 if max_per_second is None else 1.0 / max_per_second + _TICK
        # The client's loop check (Transport.bind_loop): waiting from another loop must fail
        # at once, not sit on tasks of a loop that is gone.
        self._bind_loop = bind_loop
        self._heap: list[tuple[float, int, Pollable]] = []
        self._due: dict[Pollable, float] = {}
        self._busy: set[Pollable] = set()
        self._again: set[Pollable] = set()
        self._backlog: list[tuple[float, int, Pollable]] = []
        self._queued: set[Pollable] = set()  # in the backlog
        self._rescored = 0.0
        self._next_start = 0.0
        self._idle = workers
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._ready: asyncio.Queue[Pollable] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self.polls = 0

    @property
    def pending(self) -> int:
        """Jobs scheduled, waiting for a budgeted poll, or being polled now."""
        return len(self._due) + len(self._queued) + len(self._busy)

    @property
    def task_count(self) -> int:
        """Tasks the scheduler runs (constant: its workers)."""
        return sum(1 for t in self._tasks if not t.done())

    def schedule(self, job: Pollable, delay: float) -> None:
        """Poll ``job`` after ``delay`` seconds (sooner if it is already due sooner)."""
        self._start()
        if job in self._busy:
            if delay <= 0:
                self._again.add(job)  # poll once more as soon as the current poll ends
            return
        if job in self._queued:
            return  # due already, waiting for a budgeted poll
        current = self._due.get(job)
        due = clock.now() + max(0.0, delay)
        if current is None or due < current:
            self._put(job, due)

    def reschedule(self, job: Pollable, delay: float) -> None:
        """Move ``job``'s next poll to ``delay`` seconds from now, sooner or later (a new plan).
        A job being polled or already due keeps its turn (a callback's ``poll_now`` must not
        be undone by a re-plan that runs before the timer hands the job out)."""
        if self._closed or job in self._busy or job in self._queued:
            return
        now = clock.now()
        due = self._due.get(job)
        if due is not None and due > now + _TICK:
            self._put(job, now + max(0.0, delay))

    def poll_now(self, job: Pollable) -> None:
        """Make ``job`` due now (a webhook said it finished)."""
        self.schedule(job, 0.0)

    def _put(self, job: Pollable, due: float) -> None:
        self._due[job] = due  # any older heap entry of the job is now stale
        if len(self._heap) > 2 * len(self._due) + _STALE_SLACK:
            # Re-plans of thousands of jobs leave as many stale entries each: drop them.
            self._heap = [entry for entry in self._heap if self._due.get(entry[2]) == entry[0]]
            heapq.heapify(self._heap)
        heapq.heappush(self._heap, (due, next(self._seq), job))
        if self._heap[0][2] is job:
            self._arm()

    def _start(self) -> None:
        if self._closed:
            raise ClientClosedError(
                "this client is closed: re-attach the job on an open client "
                "(phota.jobs.from_token(job.to_token()))", job_id="*",
            )
        if self._bind_loop is not None:
            self._bind_loop()
        if self._tasks and not self._tasks[0].done():
            return
        self._ready = asyncio.Queue()
        self._idle = self._workers
        self._tasks = [
            asyncio.create_task(self._worker(), name=f"phota-poll-worker-{i}")
            for i in range(self._workers)
        ]

    async def aclose(self) -> None:
        """Stop polling and wake every waiter with :class:`ClientClosedError` (the jobs go on
        at the server; the error says how to re-attach them on an open client)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        jobs = list(dict.fromkeys([*self._due, *self._queued, *self._busy]))
        self._heap.clear()
        self._due.clear()
        self._backlog.clear()
        self._queued.clear()
        self._busy.clear()
        for job in jobs:
            job.interrupt()

    # --- The timer: due jobs to the workers, or to the backlog under a budget ----------------

    def _arm(self) -> None:
        """Set the one loop timer to the next moment there is work to hand out (the earliest
        due time, or the backlog's next rescoring while a worker is idle under a budget)."""
        when = self._heap[0][0] if self._heap else None
        if self._backlog and self._idle:
            rescore = self._rescored + _RESCORE_EVERY
            when = rescore if when is None else min(when, rescore)
        if self._timer is not None:
            if when is not None and self._timer.when() <= when:
                return  # it fires first, and re-arms then
            self._timer.cancel()
        self._timer = None if when is None or self._closed else (
            asyncio.get_running_loop().call_at(when, self._tick)
        )

    def _tick(self) -> None:
        """The timer fired: hand out what is due, then arm it again."""
        self._timer = None
        now = clock.now()
        all_out = True
        try:
            all_out = self._pop_due(now)
            self._feed(now)
        finally:
            if self._timer is None and not self._closed:
                if all_out:
                    self._arm()
                else:  # a burst: the rest on the next loop pass, once the workers have run
                    self._timer = asyncio.get_running_loop().call_at(now, self._tick)

    def _pop_due(self, now: float) -> bool:
        """Hand out the jobs due by ``now``; False if more are due than one batch."""
        assert self._ready is not None
        for _ in range(_BATCH):
            if not self._heap or self._heap[0][0] > now + _TICK:
                return True
            due, _, job = heapq.heappop(self._heap)
            if self._due.get(job) != due:
                continue  # a stale entry: the job was rescheduled
            del self._due[job]
            if not job.wants_polling():
                job.dropped()
            elif self._interval:
                self._queued.add(job)
                heapq.heappush(self._backlog, (-job.done_likelihood(), next(self._seq), job))
            else:
                self._busy.add(job)
                self._ready.put_nowait(job)
        return False

    def _feed(self, now: float) -> None:
        """Under a budget: give each idle worker the backlog job most likely to be done."""
        assert self._ready is not None
        if self._backlog and now - self._rescored >= _RESCORE_EVERY:
            self._rescored = now
            self._backlog = [(-job.done_likelihood(), seq, job) for _, seq, job in self._backlog]
            heapq.heapify(self._backlog)
        while self._backlog and self._idle:
            _, _, job = heapq.heappop(self._backlog)
            self._queued.discard(job)
            if not job.wants_polling():
                job.dropped()
                continue
            self._idle -= 1
            self._busy.add(job)
            self._ready.put_nowait(job)

    # --- The workers ---------------------------------------------------------------------------

    async def _worker(self) -> None:
        assert self._ready is not None
        while True:
            job = await self._ready.get()
            delay: float | None = None
            try:
                if self._interval:
                    await self._pace()
                self.polls += 1
                delay = await job.poll_once()
            except Exception as exc:  # a bug must end this job loudly, never strand it
                log.exception("polling a job failed unexpectedly")
                job.fail(exc)
            finally:
                self._busy.discard(job)
                if self._interval:  # a worker is free for the backlog
                    self._idle += 1
                    self._feed(clock.now())
                    self._arm()
            if job in self._again:
                self._again.discard(job)
                delay = 0.0 if delay is not None else None
            if delay is not None and job.wants_polling():
                self.schedule(job, delay)

    async def _pace(self) -> None:
        """Under a budget, start polls at least ``1 / max_per_second`` apart."""
        if not self._interval:
            return
        now = clock.now()
        start = max(now, self._next_start)
        self._next_start = start + self._interval
        if start > now:
            await asyncio.sleep(start - now)
